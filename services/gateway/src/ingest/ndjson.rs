//! `application/x-ndjson`: a long upload of one event per line, processed
//! while it arrives and answered with one result line per input line.
//!
//! Lines are appended in chunks (up to `CHUNK_LINES`, or whatever has
//! arrived when the socket pauses). Results go out through a small bounded
//! channel: when the client does not read its results, the reader stops
//! reading its upload — backpressure instead of unbounded buffering. The
//! key's rate limit paces the stream the same way (see `rate_limit::pace`).

use actix_web::web::{self, Bytes, BytesMut};
use futures::{FutureExt as _, StreamExt};
use serde::Serialize;
use signalops_platform::TenantId;
use tokio::sync::mpsc;

use super::cloudevents::CloudEvent;
use super::event_input::EventInput;
use super::pipeline::{self, ItemOutcome};
use crate::extract::json::parse;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

const CHUNK_LINES: usize = 500;
/// A single line may not exceed this (a 64 KiB event plus envelope fields).
pub const MAX_LINE_BYTES: usize = 256 * 1024;

#[derive(Serialize)]
#[serde(untagged)]
enum ResultLine {
    Appended { line: usize, id: String, status: &'static str, partition: i32, offset: i64 },
    Rejected { line: usize, status: &'static str, error: Problem },
}

/// Who is uploading, for rate limits and sources.
pub struct Uploader {
    pub tenant: TenantId,
    pub key_id: uuid::Uuid,
    pub source: String,
}

/// Starts processing `payload`; the returned stream yields the result lines.
pub fn process(
    state: web::Data<AppState>,
    uploader: Uploader,
    payload: web::Payload,
) -> impl futures::Stream<Item = Result<Bytes, actix_web::Error>> {
    let (sender, receiver) = mpsc::channel::<Bytes>(4);
    actix_web::rt::spawn(async move {
        // A panic here would end the stream without a word; it aborts it in-band instead.
        let outcome = std::panic::AssertUnwindSafe(read_lines(&state, &uploader, payload, &sender)).catch_unwind().await;
        let error = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(panic) => {
                ApiError::Internal(anyhow::anyhow!("the NDJSON reader panicked: {}", crate::request_guard::panic_message(panic.as_ref())))
            }
        };
        if let ApiError::Internal(cause) = &error {
            tracing::error!(error = %format!("{cause:#}"), "NDJSON upload aborted");
        }
        // The upload itself broke (e.g. a line too long): say so in-band.
        let line = serde_json::json!({"status": "aborted", "error": error.problem()});
        let _ = sender.send(Bytes::from(format!("{line}\n"))).await;
    });
    futures::stream::unfold(receiver, |mut receiver| async move { receiver.recv().await.map(|bytes| (Ok(bytes), receiver)) })
}

async fn read_lines(
    state: &AppState,
    uploader: &Uploader,
    mut payload: web::Payload,
    sender: &mpsc::Sender<Bytes>,
) -> Result<(), ApiError> {
    let mut pending = BytesMut::new();
    let mut lines: Vec<(usize, Bytes)> = Vec::new();
    let mut next_line = 1;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::Malformed(e.to_string()))?;
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line = pending.split_to(end + 1).freeze();
            lines.push((next_line, line));
            next_line += 1;
        }
        if pending.len() > MAX_LINE_BYTES {
            return Err(ApiError::PayloadTooLarge { limit: MAX_LINE_BYTES });
        }
        // Flush when a chunk is full or the client paused (nothing buffered in the stream).
        if lines.len() >= CHUNK_LINES || (!lines.is_empty() && payload_idle(&chunk)) {
            flush(state, uploader, std::mem::take(&mut lines), sender).await?;
        }
    }
    if !pending.is_empty() {
        lines.push((next_line, pending.freeze()));
    }
    flush(state, uploader, lines, sender).await
}

/// A short read means the client has sent everything it had for now.
fn payload_idle(chunk: &Bytes) -> bool {
    chunk.len() < 16 * 1024
}

async fn flush(state: &AppState, uploader: &Uploader, lines: Vec<(usize, Bytes)>, sender: &mpsc::Sender<Bytes>) -> Result<(), ApiError> {
    let lines: Vec<(usize, Bytes)> = lines.into_iter().filter(|(_, bytes)| !bytes.iter().all(u8::is_ascii_whitespace)).collect();
    if lines.is_empty() {
        return Ok(());
    }
    // Paced: waiting here stops reading the upload, so a stream cannot run
    // ahead of its key's rate; only lines that would wait too long are refused.
    let max_wait = std::time::Duration::from_millis(state.config.ingest.stream_max_wait_ms);
    let paced = state.ingest_limiter.pace(uploader.key_id, lines.len(), max_wait).await;
    let mut outcomes = Vec::with_capacity(lines.len());
    let mut admitted = Vec::with_capacity(lines.len());
    for ((number, bytes), pace) in lines.into_iter().zip(paced) {
        match pace {
            Ok(()) => admitted.push((number, bytes)),
            Err(retry_after_secs) => {
                outcomes.push((number, ItemOutcome::Rejected { index: number, error: ApiError::RateLimited { retry_after_secs } }))
            }
        }
    }
    if !admitted.is_empty() {
        let numbers: Vec<usize> = admitted.iter().map(|(n, _)| *n).collect();
        let items = admitted
            .iter()
            .map(|(_, bytes)| parse::<EventInput>(bytes).map(|input| CloudEvent { input, extensions: Vec::new() }))
            .collect();
        let (candidates, mut rejected) = super::routes::validate(items, uploader.tenant, &uploader.source, None, true)?;
        let (candidates, mut off_schema) = super::schema_check::enforce(state, uploader.tenant, candidates, true).await?;
        rejected.append(&mut off_schema);
        let mut appended = pipeline::append(state, uploader.tenant, candidates).await?;
        appended.append(&mut rejected);
        // Batch indexes are positions among the admitted lines; report input line numbers.
        outcomes.extend(appended.into_iter().map(|(index, outcome)| (numbers[index], outcome)));
    }
    outcomes.sort_by_key(|(line, _)| *line);
    let mut out = String::new();
    for (line, outcome) in outcomes {
        let result = match outcome {
            ItemOutcome::Accepted { id, partition, offset } => ResultLine::Appended { line, id, status: "accepted", partition, offset },
            ItemOutcome::Duplicate { id, partition, offset } => ResultLine::Appended { line, id, status: "duplicate", partition, offset },
            ItemOutcome::Rejected { error, .. } => ResultLine::Rejected { line, status: "rejected", error: error.problem() },
        };
        out.push_str(&serde_json::to_string(&result).unwrap_or_default());
        out.push('\n');
    }
    // Waits while the client is not reading: backpressure on the upload.
    sender.send(Bytes::from(out)).await.map_err(|_| ApiError::Malformed("the client went away".to_owned()))
}
