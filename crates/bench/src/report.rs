//! Judges the results against the performance budget (docs/benchmarks.md): always as
//! a ratio to a ceiling measured in the same run on the same machine, because
//! absolute numbers on a shared 2-core box say little.

use std::fmt::Write as _;

use crate::result::ScenarioResult;

pub const RSS_LIMIT_MIB: f64 = 256.0;
pub const END_TO_END_P99_MS: f64 = 250.0;

#[derive(Default)]
pub struct Context {
    pub date: String,
    pub machine: String,
    pub kafka: String,
    pub commit: String,
    pub seconds: u64,
    pub rss_kib: Option<u64>,
    pub projector_rss_kib: Option<u64>,
    pub rules_rss_kib: Option<u64>,
    /// Share of CPU time the hypervisor took away during the run (`steal`
    /// in /proc/stat), in percent: a busy host slows ceilings and gateway
    /// alike, which is why rounds are interleaved.
    pub steal_percent: Option<f64>,
}

struct Row {
    cells: [String; 8],
}

fn number(value: f64) -> String {
    if value >= 100.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}

fn ms(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.2}"))
}

fn in_flight(result: &ScenarioResult) -> String {
    if result.concurrency == 0 { "—".into() } else { result.concurrency.to_string() }
}

fn find<'a>(results: &'a [ScenarioResult], name: &str) -> Option<&'a ScenarioResult> {
    results.iter().find(|r| r.scenario == name && r.available && r.events_per_s > 0.0)
}

fn measured_in<'a>(results: &'a [ScenarioResult], name: &str, round: u32) -> Option<&'a ScenarioResult> {
    results.iter().find(|r| r.scenario == name && r.round == round && r.available && r.events_per_s > 0.0)
}

/// The middle of `items` by `key` (the lower middle for an even count: the
/// conservative pick).
fn median_by<T: Copy>(mut items: Vec<T>, key: impl Fn(&T) -> f64) -> Option<T> {
    items.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let middle = items.len().checked_sub(1)? / 2;
    items.get(middle).copied()
}

/// The ceiling row shows its median round.
fn median_ceiling<'a>(results: &'a [ScenarioResult], name: &str) -> Option<&'a ScenarioResult> {
    median_by(results.iter().filter(|r| r.scenario == name && r.available && r.events_per_s > 0.0).collect(), |r| r.events_per_s)
}

/// A gateway scenario over its rounds: each round is divided by the ceiling
/// measured in that same round, and the round with the median ratio is shown
/// (so the machine's drift between rounds, e.g. CPU steal, cancels out).
/// Also returns the per-round ratios for the notes.
fn judged_over_rounds(
    results: &[ScenarioResult],
    name: &str,
    ceiling_in: impl Fn(u32) -> Option<f64>,
    target: Option<f64>,
    target_text: &str,
) -> Option<(Row, Vec<f64>)> {
    let rounds: Vec<&ScenarioResult> = results.iter().filter(|r| r.scenario == name).collect();
    if let Some(missing) = rounds.iter().find(|r| !r.available) {
        return Some((judged(missing, None, target, target_text), Vec::new()));
    }
    let ratios: Vec<(&ScenarioResult, Option<f64>)> =
        rounds.iter().map(|r| (*r, ceiling_in(r.round).filter(|c| *c > 0.0).map(|c| r.events_per_s / c))).collect();
    let (shown, _) = median_by(ratios.clone(), |(_, ratio)| ratio.unwrap_or(0.0))?;
    let per_round = ratios.iter().filter_map(|(_, ratio)| *ratio).collect();
    Some((judged(shown, ceiling_in(shown.round), target, target_text), per_round))
}

/// Adds rows judged over rounds, and a note listing each one's per-round ratios.
fn add_judged(judged: impl IntoIterator<Item = Option<(Row, Vec<f64>)>>, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    for (row, ratios) in judged.into_iter().flatten() {
        if ratios.len() > 1 {
            let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            notes.push(format!("{}: ratio per round {} (the median round is shown)", row.cells[0], listed.join(", ")));
        }
        rows.push(row);
    }
}

/// Two decimals, or three when two would round a miss up to the target
/// (0.497 shows as 0.497, not as a failing 0.50).
fn ratio_text(ratio: f64, target: Option<f64>) -> String {
    let short = format!("{ratio:.2}");
    match target {
        Some(target) if ratio < target && short.parse::<f64>().is_ok_and(|shown| shown >= target) => format!("{ratio:.3}"),
        _ => short,
    }
}

/// The row of a gateway scenario: its ratio to `ceiling` against `target`
/// (None: reported without a target).
fn judged(result: &ScenarioResult, ceiling: Option<f64>, target: Option<f64>, target_text: &str) -> Row {
    if !result.available {
        let verdict = if result.note.starts_with("not available yet") { "not available yet" } else { "fail (see notes)" };
        let cells =
            [result.scenario.clone(), "—".into(), "—".into(), "—".into(), "—".into(), "—".into(), target_text.into(), verdict.into()];
        return Row { cells };
    }
    let ratio = ceiling.filter(|c| *c > 0.0).map(|c| result.events_per_s / c);
    let verdict = match (ratio, target) {
        (Some(ratio), Some(target)) if result.errors == 0 && ratio >= target => "pass",
        (Some(_), Some(_)) => "fail",
        (None, Some(_)) => "no ceiling",
        (_, None) => "report only",
    };
    let cells = [
        result.scenario.clone(),
        in_flight(result),
        number(result.events_per_s),
        ms(result.p50_ms),
        ms(result.p99_ms),
        ratio.map_or("—".into(), |r| ratio_text(r, target)),
        target_text.into(),
        verdict.into(),
    ];
    Row { cells }
}

fn ceiling_row(result: Option<&ScenarioResult>, name: &str) -> Row {
    let (flight, rate, p50, p99, ratio) = match result {
        Some(r) => (in_flight(r), number(r.events_per_s), r.p50_ms, r.p99_ms, "1.00"),
        None => ("—".into(), "missing".into(), None, None, "—"),
    };
    Row { cells: [name.into(), flight, rate, ms(p50), ms(p99), ratio.into(), "ceiling".into(), "—".into()] }
}

/// The Markdown table plus notes (errors, unavailable scenarios, settings).
pub fn render(results: &[ScenarioResult], context: &Context) -> String {
    let producer = |round| measured_in(results, "producer-ceiling", round).map(|r| r.events_per_s);
    let http = |round| measured_in(results, "http-ceiling", round).map(|r| r.events_per_s);
    let single_ceiling = |round| Some(producer(round)?.min(http(round)?));
    let mut rows = vec![
        ceiling_row(median_ceiling(results, "producer-ceiling"), "producer-ceiling"),
        ceiling_row(median_ceiling(results, "http-ceiling"), "http-ceiling"),
    ];
    let mut round_notes = Vec::new();
    let gateway = [
        judged_over_rounds(results, "gateway-single", single_ceiling, Some(0.5), "≥ 0.5 × min(http, producer)"),
        judged_over_rounds(results, "gateway-batch", producer, Some(0.7), "≥ 0.7 × producer"),
        judged_over_rounds(results, "gateway-batch-dup", producer, None, "— (vs producer)"),
    ];
    add_judged(gateway, &mut rows, &mut round_notes);
    let rss = context.rss_kib.map(|kib| kib as f64 / 1024.0);
    let rss_verdict = rss.map_or("not measured", |mib| if mib <= RSS_LIMIT_MIB { "pass" } else { "fail" });
    let rss_value = rss.map_or("—".into(), |mib| format!("{mib:.1} MiB"));
    rows.push(Row {
        cells: [
            "gateway peak RSS (VmHWM)".into(),
            "—".into(),
            "—".into(),
            "—".into(),
            "—".into(),
            rss_value,
            "≤ 256 MiB".into(),
            rss_verdict.into(),
        ],
    });

    read_side_rows(results, context, &mut rows);
    rules_rows(results, context, &mut rows, &mut round_notes);

    let mut out = String::new();
    let _ = writeln!(out, "| scenario | in flight | events/s | p50 ms | p99 ms | ratio to ceiling | target | pass/fail |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|---|");
    for row in &rows {
        let _ = writeln!(out, "| {} |", row.cells.join(" | "));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Run: {} · {} · Kafka {} · commit {}", context.date, context.machine, context.kafka, context.commit);
    let rounds = results.iter().map(|r| r.round).max().unwrap_or(0).max(1);
    let _ = writeln!(
        out,
        "Load: {rounds} round(s) of {} s per ingest scenario, the ceilings and the gateway interleaved round by round, each gateway \
         row divided by the ceiling of its own round; closed loop with the requests (or producer chunks) in flight shown per row, \
         `data` of 300 bytes. Single events are measured with many clients, as a front door sees them; each ceiling with the load \
         it bounds.",
        context.seconds
    );
    if let Some(steal) = context.steal_percent {
        let _ = writeln!(out, "CPU steal (time the hypervisor gave to other guests) during the run: {steal:.1} %.");
    }
    let _ = writeln!(out);
    for note in &round_notes {
        let _ = writeln!(out, "- {note}");
    }
    for result in results {
        let mut parts = Vec::new();
        if !result.note.is_empty() {
            parts.push(result.note.clone());
        }
        if result.available {
            parts.push(format!("{} requests ({} req/s)", result.requests, number(result.requests_per_s)));
        }
        if result.errors > 0 {
            parts.push(format!("{} failed requests, first: {}", result.errors, result.first_error.as_deref().unwrap_or("?")));
        }
        let round = if result.round > 0 { format!(" (round {})", result.round) } else { String::new() };
        let _ = writeln!(out, "- {}{round}: {}", result.scenario, parts.join("; "));
    }
    out
}

/// The read side's rows: the COPY ceiling, the projector catching up a backlog
/// and rebuilding it (≥ 0.6 × COPY; the rebuild also ≤ 30 s), keeping up
/// with a steady ingest of 0.6 × COPY, one tenant at full speed (reported
/// only), end to end, and its RSS.
fn read_side_rows(results: &[ScenarioResult], context: &Context, rows: &mut Vec<Row>) {
    let Some(copy) = find(results, "postgres-copy-ceiling") else { return };
    rows.push(ceiling_row(Some(copy), "postgres-copy-ceiling"));
    for result in results {
        match result.scenario.as_str() {
            "projector-backlog" => rows.push(judged(result, Some(copy.events_per_s), Some(0.6), "≥ 0.6 × copy")),
            "projector-live-one-tenant" => rows.push(judged(result, Some(copy.events_per_s), None, "— (one partition, full speed)")),
            "projector-live" => {
                let mut row = judged(result, Some(copy.events_per_s), Some(0.6), "keeps up with 0.6 × copy offered");
                // The ingest offered 0.6 × copy: a projector with no lag left
                // right after it sustained that rate, whatever the division
                // of two slightly shifted windows says.
                if row.cells[7] == "fail" && result.kept_up == Some(true) && result.errors == 0 {
                    row.cells[7] = "pass (kept up)".into();
                }
                rows.push(row);
            }
            "end-to-end" => rows.push(end_to_end_row(result)),
            "projector-rebuild" => {
                let mut row = judged(result, Some(copy.events_per_s), Some(0.6), "≥ 0.6 × copy, ≤ 30 s");
                let seconds = if result.events_per_s > 0.0 { result.requests as f64 / result.events_per_s } else { f64::INFINITY };
                if seconds > 30.0 && row.cells[7] == "pass" {
                    row.cells[7] = "fail".into();
                }
                rows.push(row);
            }
            _ => {}
        }
    }
    let rss = context.projector_rss_kib.map(|kib| kib as f64 / 1024.0);
    let verdict = rss.map_or("not measured", |mib| if mib <= RSS_LIMIT_MIB { "pass" } else { "fail" });
    let value = rss.map_or("—".into(), |mib| format!("{mib:.1} MiB"));
    let dash = || "—".to_owned();
    rows.push(Row {
        cells: ["projector peak RSS (VmHWM)".into(), dash(), dash(), dash(), dash(), value, "≤ 256 MiB".into(), verdict.into()],
    });
}

/// The rules group against the consumer runtime with a no-op handler over
/// the same records: ≥ 0.7 with stateless rules only, ≥ 0.5 with windows,
/// and its RSS. Each run is divided by the ceiling measured just before it
/// (same round), and the median round is shown, as for the gateway.
fn rules_rows(results: &[ScenarioResult], context: &Context, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    if median_ceiling(results, "rules-noop-ceiling").is_none() {
        return;
    }
    rows.push(ceiling_row(median_ceiling(results, "rules-noop-ceiling"), "rules-noop-ceiling"));
    let noop = |round| measured_in(results, "rules-noop-ceiling", round).map(|r| r.events_per_s);
    let judged = [
        judged_over_rounds(results, "rules-stateless", noop, Some(0.7), "≥ 0.7 × no-op consumer"),
        judged_over_rounds(results, "rules-windows", noop, Some(0.5), "≥ 0.5 × no-op consumer"),
    ];
    add_judged(judged, rows, notes);
    let rss = context.rules_rss_kib.map(|kib| kib as f64 / 1024.0);
    let verdict = rss.map_or("not measured", |mib| if mib <= RSS_LIMIT_MIB { "pass" } else { "fail" });
    let value = rss.map_or("—".into(), |mib| format!("{mib:.1} MiB"));
    let dash = || "—".to_owned();
    rows.push(Row {
        cells: ["rules peak RSS (VmHWM)".into(), dash(), dash(), dash(), dash(), value, "≤ 256 MiB".into(), verdict.into()]
    });
}

/// HTTP accept → row visible at half the gateway's max: judged by its p99.
fn end_to_end_row(result: &ScenarioResult) -> Row {
    let verdict = match result.p99_ms {
        Some(p99) if result.errors == 0 && p99 <= END_TO_END_P99_MS => "pass",
        Some(_) => "fail",
        None => "fail (nothing measured)",
    };
    Row {
        cells: [
            result.scenario.clone(),
            "—".into(),
            number(result.events_per_s),
            ms(result.p50_ms),
            ms(result.p99_ms),
            "—".into(),
            "p99 ≤ 250 ms".into(),
            verdict.into(),
        ],
    }
}

/// Replaces everything from the "## Latest run" heading on (the intro above
/// it is hand-written and kept).
pub fn splice_into_doc(doc: &str, table: &str) -> String {
    const HEADING: &str = "## Latest run";
    let intro = doc.find(HEADING).map_or(doc, |at| &doc[..at]);
    let intro = intro.trim_end();
    let separator = if intro.is_empty() { "" } else { "\n\n" };
    format!("{intro}{separator}{HEADING}\n\nWritten by `make bench`; do not edit by hand.\n\n{table}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, rate: f64) -> ScenarioResult {
        ScenarioResult { scenario: name.into(), available: true, events_per_s: rate, requests: 10, ..Default::default() }
    }

    #[test]
    fn rules_rows_are_judged_against_the_no_op_consumer() {
        let results = [result("rules-noop-ceiling", 10_000.0), result("rules-stateless", 7_500.0), result("rules-windows", 4_000.0)];
        let table = render(&results, &Context { rules_rss_kib: Some(300 * 1024), ..Context::default() });
        assert!(table.contains("| rules-stateless | — | 7500 | — | — | 0.75 | ≥ 0.7 × no-op consumer | pass |"), "{table}");
        assert!(table.contains("| rules-windows | — | 4000 | — | — | 0.40 | ≥ 0.5 × no-op consumer | fail |"), "{table}");
        assert!(table.contains("| rules peak RSS (VmHWM) | — | — | — | — | 300.0 MiB | ≤ 256 MiB | fail |"), "{table}");
    }

    #[test]
    fn each_rules_round_is_divided_by_the_ceiling_measured_before_it() {
        let tagged = |name: &str, rate: f64, round: u32| ScenarioResult { round, ..result(name, rate) };
        let results = [
            tagged("rules-noop-ceiling", 10_000.0, 1),
            tagged("rules-stateless", 7_500.0, 1),
            tagged("rules-noop-ceiling", 20_000.0, 2),
            tagged("rules-stateless", 12_000.0, 2),
            tagged("rules-noop-ceiling", 10_000.0, 3),
            tagged("rules-stateless", 6_000.0, 3),
        ];
        let table = render(&results, &Context::default());
        // 0.75, 0.60, 0.60: the median is 0.60, of round 2 or 3.
        assert!(table.contains("| 0.60 | ≥ 0.7 × no-op consumer | fail |"), "{table}");
        assert!(table.contains("rules-stateless: ratio per round 0.75, 0.60, 0.60"), "{table}");
    }

    #[test]
    fn gateway_rows_are_judged_against_their_ceiling() {
        let results = [
            result("producer-ceiling", 100_000.0),
            result("http-ceiling", 20_000.0),
            result("gateway-single", 12_000.0),
            result("gateway-batch", 50_000.0),
            ScenarioResult::unavailable("gateway-batch-dup", "not available yet".into()),
        ];
        let context = Context {
            date: "d".into(),
            machine: "m".into(),
            kafka: "k".into(),
            commit: "c".into(),
            seconds: 1,
            rss_kib: Some(100 * 1024),
            projector_rss_kib: None,
            rules_rss_kib: None,
            steal_percent: None,
        };
        let table = render(&results, &context);
        assert!(table.contains("| gateway-single | — | 12000 | — | — | 0.60 |"), "{table}");
        assert!(table.contains("| 0.50 | ≥ 0.7 × producer | fail |"), "{table}");
        assert!(table.contains("| gateway-batch-dup | — | — | — | — | — | — (vs producer) | not available yet |"), "{table}");
        assert!(table.contains("| 100.0 MiB | ≤ 256 MiB | pass |"), "{table}");
    }

    #[test]
    fn each_round_is_divided_by_its_own_ceiling_and_the_median_round_shown() {
        let in_round = |name: &str, rate: f64, round: u32| ScenarioResult { round, ..result(name, rate) };
        let results = vec![
            in_round("producer-ceiling", 100_000.0, 1),
            in_round("http-ceiling", 40_000.0, 1),
            in_round("gateway-single", 16_000.0, 1),
            in_round("producer-ceiling", 100_000.0, 2),
            in_round("http-ceiling", 20_000.0, 2),
            in_round("gateway-single", 12_000.0, 2),
            in_round("producer-ceiling", 100_000.0, 3),
            in_round("http-ceiling", 30_000.0, 3),
            in_round("gateway-single", 16_500.0, 3),
        ];
        let table = render(&results, &Context { steal_percent: Some(12.5), ..Context::default() });
        // Ratios 0.40, 0.60, 0.55: the median is round 3 (16,500 / 30,000).
        assert!(table.contains("| gateway-single | — | 16500 | — | — | 0.55 | ≥ 0.5 × min(http, producer) | pass |"), "{table}");
        assert!(table.contains("| http-ceiling | — | 30000 |"), "the median ceiling round: {table}");
        assert!(table.contains("gateway-single: ratio per round 0.40, 0.60, 0.55"), "{table}");
        assert!(table.contains("3 round(s)") && table.contains("CPU steal") && table.contains("12.5 %"), "{table}");
    }

    #[test]
    fn the_read_side_is_judged_against_the_copy_ceiling_and_30_seconds() {
        let with = |name: &str, rate: f64, events: u64| ScenarioResult { requests: events, ..result(name, rate) };
        let results = vec![
            result("postgres-copy-ceiling", 100_000.0),
            with("projector-backlog", 50_000.0, 1_000_000),
            with("projector-rebuild", 70_000.0, 1_000_000),
        ];
        let context = Context { projector_rss_kib: Some(64 * 1024), ..Context::default() };
        let table = render(&results, &context);
        assert!(table.contains("| projector-backlog | — | 50000 | — | — | 0.50 | ≥ 0.6 × copy | fail |"), "{table}");
        assert!(table.contains("| projector-rebuild | — | 70000 | — | — | 0.70 | ≥ 0.6 × copy, ≤ 30 s | pass |"), "{table}");
        let live = ScenarioResult { kept_up: Some(true), ..with("projector-live", 20_000.0, 200_000) };
        let e2e = ScenarioResult { p50_ms: Some(40.0), p99_ms: Some(180.0), ..result("end-to-end", 5_000.0) };
        let table = render(&[result("postgres-copy-ceiling", 100_000.0), live, e2e], &context);
        assert!(
            table.contains("| projector-live | — | 20000 | — | — | 0.20 | keeps up with 0.6 × copy offered | pass (kept up) |"),
            "{table}"
        );
        assert!(table.contains("| end-to-end | — | 5000 | 40.00 | 180.00 | — | p99 ≤ 250 ms | pass |"), "{table}");
        let lagging = ScenarioResult { kept_up: Some(false), ..with("projector-live", 20_000.0, 200_000) };
        assert!(
            render(&[result("postgres-copy-ceiling", 100_000.0), lagging], &context)
                .contains("| 0.20 | keeps up with 0.6 × copy offered | fail |")
        );
        let slow = vec![result("postgres-copy-ceiling", 40_000.0), with("projector-rebuild", 30_000.0, 1_000_000)];
        assert!(render(&slow, &context).contains("| 0.75 | ≥ 0.6 × copy, ≤ 30 s | fail |"), "33 s is too slow");
        assert!(table.contains("| projector peak RSS (VmHWM) |") && table.contains("| 64.0 MiB | ≤ 256 MiB | pass |"), "{table}");
    }

    #[test]
    fn the_intro_is_kept_and_the_old_run_replaced() {
        let doc = "# Benchmarks\n\nintro\n\n## Latest run\n\nold table\n";
        let spliced = splice_into_doc(doc, "new table\n");
        assert!(spliced.starts_with("# Benchmarks\n\nintro\n\n## Latest run\n"));
        assert!(spliced.contains("new table") && !spliced.contains("old table"));
    }

    #[test]
    fn a_ratio_just_below_its_target_shows_three_decimals() {
        assert_eq!(ratio_text(0.497, Some(0.5)), "0.497");
        assert_eq!(ratio_text(0.503, Some(0.5)), "0.50");
        assert_eq!(ratio_text(0.46, Some(0.5)), "0.46");
        assert_eq!(ratio_text(0.16, None), "0.16");
    }

    #[test]
    fn one_tenant_at_full_speed_is_reported_without_a_verdict() {
        let one = ScenarioResult { kept_up: Some(false), ..result("projector-live-one-tenant", 18_000.0) };
        let table = render(&[result("postgres-copy-ceiling", 40_000.0), one], &Context::default());
        assert!(
            table.contains("| projector-live-one-tenant | — | 18000 | — | — | 0.45 | — (one partition, full speed) | report only |"),
            "{table}"
        );
    }
}
