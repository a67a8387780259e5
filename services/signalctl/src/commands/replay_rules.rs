//! What `signalctl replay` does differently for a rules group (one that
//! registered itself in `rule_groups`, or the default `signalops-rules`).
//!
//! Window and throttle state is a fold over a tenant's events from the
//! first one on: a replay from a time or an offset would start the fold
//! with the state of the present, and compute firings no live run ever
//! computed. So a rules group replays only from the earliest offset of the
//! events topic, and its state and firings are cleared in the same
//! transaction that moves its offsets (ADR 0025). Staged records are kept:
//! the recomputed firings stage the same ids again, which appends nothing.

use anyhow::bail;
use tokio_postgres::GenericClient;

/// The default group of the rules service, a rules group even before it
/// first started.
pub const DEFAULT_RULES_GROUP: &str = "signalops-rules";

pub async fn is_rules_group<C: GenericClient>(client: &C, group: &str) -> anyhow::Result<bool> {
    if group == DEFAULT_RULES_GROUP {
        return Ok(true);
    }
    let row = client.query_one("SELECT EXISTS (SELECT 1 FROM rule_groups WHERE group_id = $1)", &[&group]).await?;
    Ok(row.try_get(0)?)
}

/// Refuses every replay of a rules group but `--to-earliest` on the events topic.
pub fn check_target(group: &str, to_earliest: bool, topic: &str, events_topic: &str) -> anyhow::Result<()> {
    if !to_earliest {
        bail!(
            "group {group} runs rules: it can only be replayed with --to-earliest. Windows and throttles are computed from \
             every event before the target, so a replay from a time or an offset would compute firings from the wrong state \
             (see docs/operations.md)"
        );
    }
    if topic != events_topic {
        bail!("group {group} runs rules: it can only be replayed on the events topic {events_topic}, not {topic}");
    }
    Ok(())
}

/// Rows cleared by [`clear`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Cleared {
    pub states: u64,
    pub firings: u64,
}

/// Clears every tenant's rule state and firings, in the caller's
/// transaction (the one that moves the offsets).
pub async fn clear<C: GenericClient>(tx: &C) -> anyhow::Result<Cleared> {
    tx.execute("SELECT set_config('app.rules_reset', 'on', true)", &[]).await?;
    let states = tx.execute("DELETE FROM rule_states", &[]).await?;
    let firings = tx.execute("DELETE FROM rule_firings", &[]).await?;
    Ok(Cleared { states, firings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_replay_to_earliest_on_the_events_topic_is_allowed() {
        assert!(check_target("g", true, "events", "events").is_ok());
        let by_time = check_target("g", false, "events", "events").expect_err("refused").to_string();
        assert!(by_time.contains("--to-earliest") && by_time.contains("runs rules"), "{by_time}");
        assert!(check_target("g", true, "other", "events").is_err());
    }
}
