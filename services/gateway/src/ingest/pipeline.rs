//! From validated inputs to durable records: deduplicate client ids, append
//! everything else at once, and report per event.

use signalops_platform::TenantId;
use signalops_platform::kafka::OutgoingRecord;
use signalops_proto::{Event, Message};

use super::idempotency::{self, Keyed, Outcome};
use crate::problem::ApiError;
use crate::state::AppState;

/// An event ready to append, with its dedupe key when the client gave one.
pub struct Candidate {
    pub index: usize,
    pub event: Event,
    pub dedupe: Option<Keyed>,
    /// Headers beyond the envelope's own (CloudEvents extensions).
    pub extra_headers: Vec<(String, Vec<u8>)>,
}

/// What happened to one input.
#[derive(Debug)]
pub enum ItemOutcome {
    Accepted { id: String, partition: i32, offset: i64 },
    Duplicate { id: String, partition: i32, offset: i64 },
    Rejected { index: usize, error: ApiError },
}

/// Deduplicates and appends `candidates`; results are in input order.
pub async fn append(state: &AppState, tenant: TenantId, candidates: Vec<Candidate>) -> Result<Vec<(usize, ItemOutcome)>, ApiError> {
    // Each key once: a statement may not claim the same row twice.
    let mut seen = std::collections::HashSet::new();
    let keyed: Vec<Keyed> = candidates.iter().filter_map(|c| c.dedupe.clone()).filter(|k| seen.insert(k.key.clone())).collect();
    let outcomes = if keyed.is_empty() {
        Vec::new()
    } else {
        idempotency::claim(&state.pool, tenant, &keyed, state.config.ingest.idempotency_window_days).await?
    };
    let outcome_of = keyed.iter().map(|k| k.key.clone()).zip(outcomes).collect::<std::collections::HashMap<_, _>>();

    let mut results = Vec::with_capacity(candidates.len());
    let mut to_append = Vec::new();
    for candidate in candidates {
        match candidate.dedupe.as_ref().and_then(|k| outcome_of.get(&k.key)) {
            Some(Outcome::Duplicate { event_id, partition, offset }) => {
                results.push((candidate.index, ItemOutcome::Duplicate { id: event_id.clone(), partition: *partition, offset: *offset }));
            }
            Some(Outcome::Conflict) => {
                results.push((candidate.index, conflict(candidate.index, "this event id was already used with different content")))
            }
            Some(Outcome::Claimed) | None => to_append.push(candidate),
        }
    }
    // A key used twice in one request is appended once: the first use.
    let (first_uses, repeats) = split_repeats(to_append);
    let appended = produce(state, tenant, first_uses).await?;
    for repeat in repeats {
        let first = appended.iter().find(|(_, _, key)| key.as_ref().is_some_and(|k| k.key == repeat.key.key));
        let outcome = match first {
            Some((_, ItemOutcome::Accepted { id, partition, offset }, Some(key))) if key.content_hash == repeat.key.content_hash => {
                ItemOutcome::Duplicate { id: id.clone(), partition: *partition, offset: *offset }
            }
            Some((_, ItemOutcome::Accepted { .. }, _)) => {
                conflict(repeat.index, "the same event id appears twice in this request with different content")
            }
            _ => ItemOutcome::Rejected {
                index: repeat.index,
                error: ApiError::Unavailable("the first event with this id was not appended".to_owned()),
            },
        };
        results.push((repeat.index, outcome));
    }
    results.extend(appended.into_iter().map(|(index, outcome, _)| (index, outcome)));
    results.sort_by_key(|(index, _)| *index);
    Ok(results)
}

fn conflict(index: usize, detail: &str) -> ItemOutcome {
    ItemOutcome::Rejected { index, error: ApiError::IdempotencyConflict(detail.to_owned()) }
}

struct Repeat {
    index: usize,
    key: Keyed,
}

/// Keeps the first use of each key; later uses in the same request are repeats.
fn split_repeats(candidates: Vec<Candidate>) -> (Vec<Candidate>, Vec<Repeat>) {
    let mut seen = std::collections::HashSet::new();
    let mut kept = Vec::new();
    let mut repeats = Vec::new();
    for candidate in candidates {
        match candidate.dedupe.clone() {
            Some(key) if !seen.insert(key.key.clone()) => repeats.push(Repeat { index: candidate.index, key }),
            _ => kept.push(candidate),
        }
    }
    (kept, repeats)
}

/// Appends, records or releases the claims, and reports each candidate
/// with its dedupe key.
async fn produce(
    state: &AppState,
    tenant: TenantId,
    candidates: Vec<Candidate>,
) -> Result<Vec<(usize, ItemOutcome, Option<Keyed>)>, ApiError> {
    let key = tenant.to_string().into_bytes();
    let records = candidates
        .iter()
        .map(|c| OutgoingRecord {
            topic: state.config.kafka.topics.events.clone(),
            key: Some(key.clone()),
            payload: c.event.encode_to_vec(),
            headers: signalops_proto::headers::envelope_headers(&c.event)
                .into_iter()
                .map(|(k, v)| (k.into(), v))
                .chain(c.extra_headers.iter().map(|(k, v)| (k.clone().into(), v.clone())))
                .collect(),
        })
        .collect();
    let deliveries = state.producer.send_all(records).await;
    let mut recorded = Vec::new();
    let mut released = Vec::new();
    let mut results = Vec::with_capacity(candidates.len());
    for (candidate, delivery) in candidates.into_iter().zip(deliveries) {
        match delivery {
            Ok(at) => {
                if let Some(key) = &candidate.dedupe {
                    recorded.push((key.key.clone(), at.partition, at.offset));
                }
                let outcome = ItemOutcome::Accepted { id: candidate.event.id, partition: at.partition, offset: at.offset };
                results.push((candidate.index, outcome, candidate.dedupe));
            }
            Err(error) => {
                if let Some(key) = &candidate.dedupe {
                    released.push(key.key.clone());
                }
                // Not durable: never reported as accepted.
                let outcome = ItemOutcome::Rejected { index: candidate.index, error: ApiError::Unavailable(error.to_string()) };
                results.push((candidate.index, outcome, candidate.dedupe));
            }
        }
    }
    idempotency::record(&state.pool, tenant, &recorded).await?;
    idempotency::release(&state.pool, tenant, &released).await?;
    Ok(results)
}
