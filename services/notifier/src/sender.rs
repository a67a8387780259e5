//! Sending, off the consumer path: claim due deliveries from Postgres,
//! send each through its current channel (at most `send_concurrency` in
//! flight in this instance, `channel_concurrency` per channel over all
//! instances, `channel_rate_per_sec` started per channel here), decide what
//! becomes of it, and hand the result to the recorder, which writes many
//! per transaction. A slow channel holds only its own claims, never a
//! partition, another channel or another tenant.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{SecondsFormat, TimeDelta};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use signalops_notify_send::{Message, Providers, Sent};
use signalops_notify_store::channels::{OpenedChannel, Status};
use signalops_notify_store::retry::{RetrySchedule, Verdict};
use signalops_notify_store::sealing::Keyring;
use signalops_notify_store::{StoreError, channels};
use signalops_platform::kafka::EventProducer;
use signalops_platform::postgres::Pool;
use signalops_platform::shutdown::CancellationToken;
use tokio::sync::{Notify, Semaphore, mpsc};
use uuid::Uuid;

use crate::claims::{self, ClaimLimits, Claimed};
use crate::clock::Clock;
use crate::decide::{Position, Tried, decide};
use crate::recorder::{self, Finished};
use crate::settings::NotifierSettings;
use crate::{health, metrics};

/// Results recorded per transaction, at most.
const RECORD_BATCH: usize = 500;
/// Looks after a wake that found nothing (5, 10, 20 ms later).
const EAGER_LOOKS: u32 = 3;
/// How often channel health is checked and unappended outcomes retried.
const HOUSEKEEPING: Duration = Duration::from_secs(30);

/// Everything the sender needs, built once.
pub struct Sender {
    pub pool: Pool,
    pub clock: Arc<dyn Clock>,
    pub providers: Providers,
    pub keyring: Keyring,
    pub producer: EventProducer,
    pub outcomes_topic: String,
    pub settings: NotifierSettings,
    pub schedule: RetrySchedule,
    /// Woken when deliveries were recorded, so they are claimed at once.
    pub wake: Arc<Notify>,
    /// This instance's name in `claimed_by`.
    pub me: String,
}

type ChannelKey = (Uuid, String);

struct Shared {
    sender: Sender,
    rate: DefaultKeyedRateLimiter<ChannelKey>,
}

impl Sender {
    /// Sends until `stop`; attempts in flight finish and are recorded.
    pub async fn run(self, stop: CancellationToken) {
        let rate = NonZeroU32::new(self.settings.channel_rate_per_sec).unwrap_or(NonZeroU32::MIN);
        let in_flight = Arc::new(Semaphore::new(self.settings.send_concurrency as usize));
        let (results, received) = mpsc::channel(RECORD_BATCH * 4);
        // The recorder ends when the last sender of results is gone: the
        // loop's, and each attempt's clone of it.
        let shared = Arc::new(Shared { rate: RateLimiter::keyed(Quota::per_second(rate)), sender: self });
        let recorder = tokio::spawn(record_loop(shared.clone(), received));
        let housekeeping = tokio::spawn(housekeeping_loop(shared.clone(), stop.clone()));
        let mut eager = 0;
        loop {
            if stop.is_cancelled() {
                break;
            }
            let room = in_flight.available_permits();
            if room == 0 {
                tokio::select! {
                    () = stop.cancelled() => break,
                    permit = in_flight.clone().acquire_owned() => drop(permit),
                }
                continue;
            }
            let claimed = match shared.claim(room).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "claiming deliveries failed; trying again");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                // A wake comes as the recording transaction commits, so
                // the first look after one may be early: look again soon.
                let idle = match eager {
                    0 => Duration::from_millis(shared.sender.settings.idle_poll_ms),
                    n => Duration::from_millis(5 << (EAGER_LOOKS - n)),
                };
                eager = eager.saturating_sub(1);
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = shared.sender.wake.notified() => eager = EAGER_LOOKS,
                    () = tokio::time::sleep(idle) => {}
                }
                continue;
            }
            eager = 0;
            let opened = match shared.open(&claimed).await {
                Ok(opened) => opened,
                Err(error) => {
                    // The claims lapse and the deliveries are claimed again.
                    tracing::warn!(error = %format!("{error:#}"), "opening channels failed; the claims will lapse");
                    continue;
                }
            };
            for delivery in claimed {
                let Ok(permit) = in_flight.clone().acquire_owned().await else { break };
                let channel = opened.get(&(delivery.tenant, delivery.channel().to_owned())).cloned();
                let (shared, results) = (shared.clone(), results.clone());
                tokio::spawn(async move {
                    let finished = shared.attempt(delivery, channel).await;
                    let _ = results.send(finished).await;
                    drop(permit);
                });
            }
        }
        // Every permit back means every attempt handed its result over.
        let _ = in_flight.acquire_many(shared.sender.settings.send_concurrency).await;
        drop(results);
        let _ = recorder.await;
        housekeeping.abort();
    }
}

impl Shared {
    async fn claim(&self, room: usize) -> anyhow::Result<Vec<Claimed>> {
        let s = &self.sender.settings;
        let limits = ClaimLimits {
            max: i64::from(s.claim_batch).min(room as i64),
            channel_concurrency: i64::from(s.channel_concurrency),
            lease_ms: i64::try_from(s.claim_lease().as_millis()).unwrap_or(i64::MAX),
        };
        claims::claim(&self.sender.pool, self.sender.clock.now(), &self.sender.me, limits).await
    }

    async fn open(&self, claimed: &[Claimed]) -> anyhow::Result<HashMap<ChannelKey, Result<OpenedChannel, String>>> {
        let mut keys: Vec<ChannelKey> = claimed.iter().map(|c| (c.tenant, c.channel().to_owned())).collect();
        keys.sort();
        keys.dedup();
        let mut client = self.sender.pool.get().await?;
        let tx = client.transaction().await?;
        tx.batch_execute("SELECT set_config('app.notifier', 'on', true)").await?;
        let opened = channels::open_for_sending(&*tx, &self.sender.keyring, &keys).await?;
        tx.commit().await?;
        Ok(opened.into_iter().map(|(k, v)| (k, v.map_err(|e: StoreError| e.to_string()))).collect())
    }

    /// One attempt; `channel` is `None` when the channel does not exist.
    async fn attempt(&self, delivery: Claimed, channel: Option<Result<OpenedChannel, String>>) -> Finished {
        let clock = &self.sender.clock;
        let started_at = clock.now();
        let channel_id = delivery.channel().to_owned();
        let (tried, sent, kind) = match &channel {
            None => (Tried::Skipped, Sent::failed(format!("channel {channel_id:?} does not exist"), Duration::ZERO), None),
            // A key the platform cannot open with is its problem, not the
            // channel's: tried again on schedule, never skipped.
            Some(Err(error)) => (Tried::Answered(Verdict::Retry { retry_after: None }), Sent::failed(error.clone(), Duration::ZERO), None),
            Some(Ok(opened)) if opened.record.status == Status::Disabled => {
                let why = opened.record.disabled_reason.clone().unwrap_or_default();
                (
                    Tried::Skipped,
                    Sent::failed(format!("channel {channel_id:?} is disabled ({why})"), Duration::ZERO),
                    Some(opened.record.kind),
                )
            }
            Some(Ok(opened)) => {
                self.rate.until_key_ready(&(delivery.tenant, channel_id.clone())).await;
                // Receivers check `webhook-timestamp` against their own
                // clock: it is the wall clock's, whatever schedules attempts.
                let sent = self.sender.providers.send(opened, &message(&delivery), chrono::Utc::now().timestamp()).await;
                let tried = if sent.refused { Tried::Refused } else { Tried::Answered(sent.verdict(SystemTime::now())) };
                (tried, sent, Some(opened.record.kind))
            }
        };
        let position = Position {
            channel_index: delivery.channel_index,
            channel_attempts: delivery.channel_attempts,
            chain_len: delivery.channels.len(),
        };
        let (outcome, next) = decide(position, tried, &self.sender.schedule, clock.now(), rand::random());
        metrics::notifier().attempts.with_label_values(&[outcome.as_str()]).inc();
        Finished {
            channel_kind: kind.map(|k| k.as_str()),
            started_at,
            latency_ms: i32::try_from(sent.latency.as_millis()).unwrap_or(i32::MAX),
            status_code: sent.status.map(i32::from),
            excerpt: sent.excerpt,
            error: sent.error,
            outcome,
            next,
            claimed: delivery,
        }
    }
}

/// The message of a delivery: the same bytes on every attempt and channel.
pub fn message(delivery: &Claimed) -> Message {
    Message {
        id: delivery.id.to_string(),
        subject: delivery.subject.clone(),
        body: delivery.body.clone(),
        event_type: "signalops.notification".to_owned(),
        timestamp: delivery.requested_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        data: json!({
            "notification_id": delivery.id,
            "rule_id": delivery.rule_id,
            "rule_version": delivery.rule_version,
            "source_event_id": delivery.source_event_id,
            "source_event_type": delivery.source_event_type,
            "subject": delivery.subject,
            "body": delivery.body,
        }),
    }
}

async fn record_loop(shared: Arc<Shared>, mut received: mpsc::Receiver<Finished>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while received.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let s = &shared.sender;
        let mut backoff = Duration::from_millis(100);
        loop {
            match recorder::record(&s.pool, &s.producer, &s.outcomes_topic, &s.me, &batch, s.clock.now()).await {
                Ok(recorded) => {
                    if recorded.fenced > 0 {
                        tracing::warn!(fenced = recorded.fenced, "attempts not recorded: their claims had lapsed and were taken over");
                    }
                    for (tenant, channel) in &recorded.disabled {
                        tracing::warn!(%tenant, channel, "channel disabled: its receiver answered 410 Gone");
                    }
                    break;
                }
                // Until the claims lapse the results are still ours to
                // record; past that the deliveries are tried again anyway.
                Err(error) if backoff < s.settings.claim_lease() => {
                    tracing::warn!(error = %format!("{error:#}"), "recording attempts failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), dropped = batch.len(), "recording attempts failed; they will be tried again");
                    break;
                }
            }
        }
        batch.clear();
    }
}

async fn housekeeping_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let s = &shared.sender;
    let hours = |h: u32| TimeDelta::hours(i64::from(h));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(HOUSEKEEPING) => {}
        }
        match health::pass(&s.pool, s.clock.now(), hours(s.settings.failing_warn_after_hours), hours(s.settings.disable_after_hours)).await
        {
            Ok(pass) if pass.disabled > 0 || pass.warned > 0 => {
                tracing::warn!(warned = pass.warned, disabled = pass.disabled, "failing channels")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %format!("{error:#}"), "channel health pass failed"),
        }
        if let Err(error) = recorder::append_pending_outcomes(&s.pool, &s.producer, &s.outcomes_topic).await {
            tracing::warn!(error = %format!("{error:#}"), "appending pending delivery outcomes failed");
        }
        shared.rate.retain_recent();
    }
}
