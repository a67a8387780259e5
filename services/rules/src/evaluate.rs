//! The rules of one tenant over that tenant's events of one batch, in offset
//! order, with window and throttle state carried from event to event in
//! memory. Pure: the handler loads the states before and writes the result
//! after, in the batch's transaction.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value as Json, json};
use signalops_platform::TenantId;
use signalops_rule_engine::{ActionOutcome, CompiledRule, Evaluation, FireOptions, RenderedAction, RuleStates, Suppression, Verdict};
use uuid::Uuid;

use crate::catalog::TenantRules;
use crate::incoming::Incoming;
use crate::staging::{self, Staged};
use crate::states::{Kind, StateCache, StateId, Value};

/// An event some rule is indexed for, with its data parsed.
pub struct Candidate<'a> {
    pub incoming: &'a Incoming,
    pub data: Json,
    pub rules: Vec<&'a CompiledRule>,
}

/// Whether a firing went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Fired,
    Suppressed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Fired => "fired",
            Outcome::Suppressed => "suppressed",
        }
    }
}

/// One row for `rule_firings`.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub rule_id: Uuid,
    pub version: u32,
    pub event_id: String,
    pub event_type: String,
    pub received_at: DateTime<Utc>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    /// JSON array: one entry per action, with its id and what became of it.
    pub produced: Json,
    pub partition: i32,
    pub offset: i64,
}

/// What a tenant's events produced.
#[derive(Debug, Default)]
pub struct Effects {
    pub firings: Vec<Firing>,
    pub staged: Vec<Staged>,
    pub evaluations: u64,
}

/// The events (of one tenant, in offset order) that some rule is indexed for.
pub fn candidates<'a>(rules: &'a TenantRules, events: &[&'a Incoming]) -> Result<Vec<Candidate<'a>>, (usize, String)> {
    let mut found = Vec::new();
    for &incoming in events {
        if !rules.index.indexes(&incoming.envelope.r#type) {
            continue;
        }
        let data = incoming.data().map_err(|reason| (incoming.index, reason))?;
        let rules = rules.index.for_event(&incoming.view(&data));
        if rules.is_empty() {
            continue;
        }
        found.push(Candidate { incoming, data, rules });
    }
    Ok(found)
}

/// The states the candidates' matching events touch (to load them in one query).
pub fn touched_states(candidates: &[Candidate<'_>]) -> Vec<StateId> {
    let mut ids = std::collections::HashSet::new();
    for candidate in candidates {
        let view = candidate.incoming.view(&candidate.data);
        for rule in candidate.rules.iter().filter(|r| uses_state(r)) {
            if rule.matches(&view) {
                let keys = rule.state_keys(&view);
                ids.extend(StateId::of(rule, Kind::Window, &keys.window));
                ids.extend(StateId::of(rule, Kind::Throttle, &keys.throttle));
            }
        }
    }
    ids.into_iter().collect()
}

/// Whether a rule keeps window or throttle state.
pub fn uses_state(rule: &CompiledRule) -> bool {
    rule.version().window.is_some() || rule.version().throttle.is_some()
}

/// Runs every candidate rule on every candidate event, in order. `now` is
/// only the `created_at` of notification requests.
pub fn run(tenant: TenantId, candidates: &[Candidate<'_>], states: &mut StateCache, options: &FireOptions, now: DateTime<Utc>) -> Effects {
    let mut effects = Effects::default();
    for candidate in candidates {
        let view = candidate.incoming.view(&candidate.data);
        for rule in &candidate.rules {
            effects.evaluations += 1;
            // The untraced check does not allocate; the firing step needs
            // only whether it matched.
            if !rule.matches(&view) {
                continue;
            }
            let keys = rule.state_keys(&view);
            let window = StateId::of(rule, Kind::Window, &keys.window);
            let throttle = StateId::of(rule, Kind::Throttle, &keys.throttle);
            let mut rule_states = RuleStates { window: states.window(window.as_ref()), throttle: states.throttle(throttle.as_ref()) };
            let matched = Evaluation { matched: true, trace: Vec::new() };
            let verdict = rule.fire(&matched, &view, &mut rule_states, options);
            keep_states(rule, &verdict, window, throttle, rule_states, states);
            record(tenant, rule, candidate.incoming, verdict, now, &mut effects);
        }
    }
    effects
}

/// Puts back the states the firing step changed: the window whenever it
/// counted, the throttle whenever it was asked.
fn keep_states(
    rule: &CompiledRule,
    verdict: &Verdict,
    window: Option<StateId>,
    throttle: Option<StateId>,
    rule_states: RuleStates,
    states: &mut StateCache,
) {
    let past_guard = !matches!(
        verdict,
        Verdict::NoMatch | Verdict::KeyMissing | Verdict::Suppressed(Suppression::OwnEvent | Suppression::DepthCap { .. })
    );
    let throttle_asked = matches!(verdict, Verdict::Fired(_) | Verdict::Suppressed(Suppression::Throttled { .. }));
    if past_guard && let (Some(id), Some(spec)) = (window, &rule.version().window) {
        let expires = rule_states.window.newest.map(|n| n + spec.within.delta());
        states.put(id, Value::Window(rule_states.window), expires);
    }
    if throttle_asked && let (Some(id), Some(spec)) = (throttle, &rule.version().throttle) {
        let expires = rule_states.throttle.newest.map(|n| n + spec.per.delta());
        states.put(id, Value::Throttle(rule_states.throttle), expires);
    }
}

fn record(tenant: TenantId, rule: &CompiledRule, incoming: &Incoming, verdict: Verdict, now: DateTime<Utc>, effects: &mut Effects) {
    let (outcome, reason, produced) = match verdict {
        Verdict::NoMatch | Verdict::WindowPending(_) | Verdict::KeyMissing => return,
        Verdict::Suppressed(suppression) => (Outcome::Suppressed, Some(reason(&suppression)), Json::Array(Vec::new())),
        Verdict::Fired(actions) => {
            let firing = effects.firings.len();
            let produced = actions.iter().map(|a| stage(tenant, firing, rule, incoming, a, now, &mut effects.staged)).collect();
            (Outcome::Fired, None, Json::Array(produced))
        }
    };
    let r = rule.rule();
    effects.firings.push(Firing {
        rule_id: r.id,
        version: r.version,
        event_id: incoming.envelope.id.clone(),
        event_type: incoming.envelope.r#type.clone(),
        received_at: incoming.received_at,
        outcome,
        reason,
        produced,
        partition: incoming.partition,
        offset: incoming.offset,
    });
}

/// Why a firing was suppressed: a stable word first, then the detail.
pub fn reason(suppression: &Suppression) -> String {
    match suppression {
        Suppression::OwnEvent => "own_event: the event was derived by this rule's own firing".to_owned(),
        Suppression::DepthCap { depth, max_depth } => {
            format!("depth_cap: the event is at depth {depth}, and no rule fires on depth {max_depth} or deeper")
        }
        Suppression::Throttled { at_most } => format!("throttled: {at_most} firing(s) already let through in the period"),
    }
}

/// Stages one action's record for firing number `firing`; returns its
/// entry in `produced`.
fn stage(
    tenant: TenantId,
    firing: usize,
    rule: &CompiledRule,
    incoming: &Incoming,
    action: &ActionOutcome,
    now: DateTime<Utc>,
    staged: &mut Vec<Staged>,
) -> Json {
    match &action.result {
        Ok(RenderedAction::Notify(n)) => {
            let request = staging::notification(tenant, incoming, rule.rule(), action.index, n, now);
            staged.push(staging::stage_notification(firing, incoming, action.id, &request));
            json!({"index": action.index, "id": action.id, "kind": staging::KIND_NOTIFICATION, "channels": n.channels, "staged": true})
        }
        Ok(RenderedAction::Emit(d)) => match staging::derived_event(tenant, incoming, d) {
            Ok(event) => {
                staged.push(staging::stage_event(firing, incoming, action.id, &event));
                json!({"index": action.index, "id": action.id, "kind": staging::KIND_EVENT, "type": d.event_type, "staged": true})
            }
            Err(error) => {
                json!({"index": action.index, "id": action.id, "kind": staging::KIND_EVENT, "type": d.event_type, "error": error})
            }
        },
        Err(error) => json!({"index": action.index, "id": action.id, "error": error.to_string()}),
    }
}

/// States that expired this long before the newest event of the batch are
/// deleted (see `rules.state_expiry_grace_secs`).
pub fn expired_before(candidates: &[Candidate<'_>], grace: TimeDelta) -> Option<DateTime<Utc>> {
    candidates.iter().map(|c| c.incoming.received_at).max().map(|newest| newest - grace)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;
    use signalops_platform::consumer::Record;
    use signalops_proto::Message as _;
    use signalops_rule_engine::{CompiledRule, RuleIndex, RuleRef, ValidationContext};

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + seconds, 0).expect("time")
    }

    fn incoming(
        index: usize,
        tenant: TenantId,
        data: serde_json::Value,
        seconds: i64,
        causation: Option<signalops_proto::Causation>,
    ) -> Incoming {
        let time = Some(signalops_proto::time::to_timestamp(at(seconds)));
        let event = signalops_proto::Event {
            id: format!("e{index}"),
            tenant_id: tenant.to_string(),
            r#type: "login.failed".into(),
            source: "/test".into(),
            received_at: time,
            data_content_type: "application/json".into(),
            data: data.to_string().into_bytes(),
            causation,
            ..signalops_proto::Event::default()
        };
        let record = Record {
            topic: "t".into(),
            partition: 0,
            offset: i64::try_from(index).unwrap_or_default(),
            key: None,
            payload: Some(event.encode_to_vec()),
            headers: vec![("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec())],
            timestamp_ms: None,
        };
        Incoming::decode(index, &record).expect("decodes")
    }

    fn rules(rule: RuleRef, extra: serde_json::Value) -> TenantRules {
        let mut doc = json!({"name": "r", "event_types": ["login."], "when": {"path": "data", "op": "exists"},
            "actions": [{"notify": {"channels": ["ops"], "body": "{{ event.id }}"}}]});
        for (k, v) in extra.as_object().expect("object") {
            doc[k] = v.clone();
        }
        let compiled = CompiledRule::compile(rule, &doc, &ValidationContext::default()).expect("compiles");
        TenantRules { revision: 1, index: RuleIndex::new([compiled]), active: 1 }
    }

    const RULE: RuleRef = RuleRef { id: Uuid::from_u128(7), version: 2 };

    #[test]
    fn a_window_is_carried_across_the_events_of_a_batch_and_stored_with_its_expiry() {
        let tenant = TenantId::new();
        let rules = rules(RULE, json!({"window": {"count": 2, "within": "1m", "per": "/data/user"}}));
        let events: Vec<Incoming> = [("u1", 0), ("u2", 10), ("u1", 30), ("u1", 40)]
            .iter()
            .enumerate()
            .map(|(i, (u, s))| incoming(i, tenant, json!({"user": u}), *s, None))
            .collect();
        let refs: Vec<&Incoming> = events.iter().collect();
        let found = candidates(&rules, &refs).expect("candidates");
        assert_eq!(touched_states(&found).len(), 2, "one window per user");
        let mut states = StateCache::default();
        let effects = run(tenant, &found, &mut states, &FireOptions::default(), at(100));
        let fired: Vec<&str> = effects.firings.iter().map(|f| f.event_id.as_str()).collect();
        assert_eq!(fired, ["e2"], "u1's second event within the minute");
        assert_eq!(effects.staged.len(), 1);
        assert_eq!(effects.staged[0].record_id, signalops_rule_engine::action_id("e2", RULE.id, RULE.version, 0));
        let mut dirty: Vec<(String, DateTime<Utc>)> = states.dirty().map(|(id, _, at)| (id.key.clone(), at)).collect();
        dirty.sort();
        assert_eq!(dirty, vec![("u1".to_owned(), at(100)), ("u2".to_owned(), at(70))], "expiry = newest received_at + within");
    }

    #[test]
    fn suppressed_firings_are_recorded_with_their_reason_and_leave_states_alone() {
        let tenant = TenantId::new();
        let rules = rules(RULE, json!({"throttle": {"at_most": 1, "per": "1h"}}));
        let own =
            signalops_proto::Causation { root_event_id: "r".into(), source_event_id: "s".into(), rule_id: RULE.id.to_string(), depth: 1 };
        let deep = signalops_proto::Causation { rule_id: Uuid::from_u128(9).to_string(), depth: 3, ..own.clone() };
        let events = [
            incoming(0, tenant, json!({}), 0, Some(own)),
            incoming(1, tenant, json!({}), 1, Some(deep)),
            incoming(2, tenant, json!({}), 2, None),
            incoming(3, tenant, json!({}), 3, None),
        ];
        let refs: Vec<&Incoming> = events.iter().collect();
        let found = candidates(&rules, &refs).expect("candidates");
        let mut states = StateCache::default();
        let effects = run(tenant, &found, &mut states, &FireOptions::default(), at(100));
        let outcomes: Vec<(&str, Option<&str>)> =
            effects.firings.iter().map(|f| (f.outcome.as_str(), f.reason.as_deref().and_then(|r| r.split(':').next()))).collect();
        assert_eq!(
            outcomes,
            [("suppressed", Some("own_event")), ("suppressed", Some("depth_cap")), ("fired", None), ("suppressed", Some("throttled"))]
        );
        assert_eq!(states.dirty().count(), 1, "only the throttle that was asked");
    }

    #[test]
    fn data_that_is_not_json_is_named_with_its_index() {
        let tenant = TenantId::new();
        let rules = rules(RULE, json!({}));
        let mut broken = incoming(4, tenant, json!({}), 0, None);
        broken.envelope.data = b"{not json".to_vec();
        assert_eq!(candidates(&rules, &[&broken]).err().map(|(i, _)| i), Some(4));
    }
}
