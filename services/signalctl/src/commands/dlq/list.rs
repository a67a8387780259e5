//! `signalctl dlq list`: the dead letters matching the filters, newest
//! last, with counts per group and error class over all of them.

use clap::Args;
use serde_json::json;

use super::Output;
use super::filter::Filter;
use super::letter::clip;
use super::select::select;
use crate::CtlConfig;

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: Filter,
    /// Show at most this many records (the last ones); 0 shows all. The
    /// counts always cover every match.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

pub async fn run(args: ListArgs, output: Output) -> anyhow::Result<()> {
    args.filter.validate()?;
    let config = CtlConfig::load()?;
    let kafka = config.require_kafka()?.clone();
    let filter = args.filter.clone();
    let selection = tokio::task::spawn_blocking(move || select(&kafka, &filter, &[])).await??;
    let counts = selection.counts();
    let total = selection.letters.len();
    let shown = if args.limit == 0 { total } else { args.limit.min(total) };
    let letters = &selection.letters[..];
    // Letters are in partition order; the last `shown` by time are the newest.
    let mut by_time: Vec<_> = letters.iter().collect();
    by_time.sort_by_key(|l| (l.at, l.record.partition, l.record.offset));
    let shown_letters = &by_time[total - shown..];

    let mut lines = vec![format!(
        "{:<12} {:<24} {:<28} {:<11} {:<36} {:<40} {:<3} {}",
        "POSITION", "AT", "GROUP", "CLASS", "TENANT", "SOURCE", "RD", "ERROR"
    )];
    for l in shown_letters {
        lines.push(format!(
            "{:<12} {:<24} {:<28} {:<11} {:<36} {:<40} {:<3} {}",
            l.position(),
            l.at_text(),
            clip(&l.group, 28),
            l.error_class,
            clip(if l.tenant.is_empty() { "-" } else { &l.tenant }, 36),
            clip(&l.source(), 40),
            if selection.is_redriven(l) { "yes" } else { "-" },
            clip(&l.error, 80)
        ));
    }
    if shown < total {
        lines.push(format!("… {} older not shown (--limit 0 shows all)", total - shown));
    }
    lines.push(String::new());
    lines.push(format!("{:<28} {:<11} {:>8}", "GROUP", "CLASS", "COUNT"));
    for ((group, class), n) in &counts {
        lines.push(format!("{:<28} {class:<11} {n:>8}", clip(group, 28)));
    }
    lines.push(format!("{total} dead letter(s) on {}", config.kafka.topics.dlq));
    let value = json!({
        "topic": config.kafka.topics.dlq,
        "filter": args.filter.to_json(),
        "total": total,
        "shown": shown,
        "records": shown_letters.iter().map(|l| l.summary_json(selection.is_redriven(l))).collect::<Vec<_>>(),
        "counts": counts.iter().map(|((group, class), n)| json!({"group": group, "error_class": class, "count": n})).collect::<Vec<_>>(),
    });
    output.print(lines.join("\n"), value);
    Ok(())
}
