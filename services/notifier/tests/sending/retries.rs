//! The retry schedule on the test clock, `Retry-After`, fallback to the
//! next channel of the chain, 410 disabling a channel, a missing channel.

use chrono::TimeDelta;
use signalops_testkit::fake_receiver::{FakeReceiver, Reply};

use crate::fixture::{Fixture, WAIT, fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_follow_the_schedule_honour_retry_after_then_fall_back_to_the_next_channel() {
    let f = fixture().await;
    let first = FakeReceiver::start().expect("receiver");
    first.answer(|_, n| match n {
        1 => Reply::status(503).with_header("retry-after", "120"),
        _ => Reply::status(500),
    });
    let second = FakeReceiver::start().expect("receiver");
    f.webhook("primary", &format!("{}/in", first.base_url)).await;
    f.webhook("backup", &format!("{}/in", second.base_url)).await;
    let member = f.start(signalops_notifier::settings::NotifierSettings { retry_schedule: "0s, 5s, 1m".into(), ..Fixture::settings() });
    let id = f.request(&["primary", "backup"], "to the first that takes it").await;

    assert_eq!(f.wait_attempts(id, 1).await, 1);
    let start = f.clock_now();
    let attempts = f.attempts(id).await;
    let next = attempts[0].4.expect("a next attempt");
    let wait = next - start;
    assert!((TimeDelta::milliseconds(4_500)..=TimeDelta::milliseconds(5_500)).contains(&wait), "5 s ± 10 %: {wait}");
    f.advance(TimeDelta::seconds(4));
    assert_eq!(first.received().len(), 1, "not before its time");
    f.advance(TimeDelta::seconds(2));
    assert_eq!(f.wait_attempts(id, 2).await, 2);
    let attempts = f.attempts(id).await;
    assert_eq!((attempts[1].2, attempts[1].3.as_str()), (Some(503), "retry"));
    let wait = attempts[1].4.expect("next") - f.clock_now();
    assert!(wait >= TimeDelta::seconds(119), "Retry-After 120 s outweighs the schedule's 1 min: {wait}");
    f.advance(TimeDelta::seconds(121));
    assert!(f.wait_finished(id).await, "the backup channel took it");
    let attempts = f.attempts(id).await;
    let seen: Vec<(&str, Option<i32>, &str)> = attempts.iter().map(|a| (a.1.as_str(), a.2, a.3.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("primary", Some(500), "retry"),
            ("primary", Some(503), "retry"),
            ("primary", Some(500), "failed"),
            ("backup", Some(200), "delivered")
        ]
    );
    assert_eq!(f.delivery(id).await, ("delivered".into(), 1, 4, Some("backup".into())));
    let ids: Vec<String> =
        first.received().iter().chain(second.received().iter()).filter_map(|r| r.header("webhook-id").map(str::to_owned)).collect();
    assert_eq!(ids, vec![id.to_string(); 4], "one webhook-id on every retry and fallback");
    member.stop.cancel();
    member.wait().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_410_disables_the_channel_and_later_deliveries_skip_it_and_a_chain_can_fail() {
    let f = fixture().await;
    let gone = FakeReceiver::start().expect("receiver");
    gone.answer(|_, _| Reply::status(410));
    let backup = FakeReceiver::start().expect("receiver");
    backup.answer(|_, _| Reply::status(400).with_body("bad request"));
    f.webhook("gone", &format!("{}/in", gone.base_url)).await;
    f.webhook("backup", &format!("{}/in", backup.base_url)).await;
    let member = f.start(Fixture::settings());

    let first = f.request(&["gone", "backup"], "one").await;
    assert!(f.wait_finished(first).await);
    let seen: Vec<(String, Option<i32>, String)> = f.attempts(first).await.into_iter().map(|a| (a.1, a.2, a.3)).collect();
    assert_eq!(seen, [("gone".into(), Some(410), "gone".into()), ("backup".into(), Some(400), "failed".into())]);
    assert_eq!(f.delivery(first).await.0, "failed", "a 4xx is permanent and no channel was left");
    let db = f.db.superuser().await.expect("superuser");
    let row = db.query_one("SELECT status, disabled_reason FROM channels WHERE id = 'gone'", &[]).await.expect("channel");
    assert_eq!(
        (row.try_get::<_, String>(0).expect("column").as_str(), row.try_get::<_, Option<String>>(1).expect("column").as_deref()),
        ("disabled", Some("the receiver answered 410 Gone"))
    );
    assert_eq!(f.system_events().await, ["signalops.channel.disabled"]);

    backup.answer(|_, _| Reply::status(204));
    let second = f.request(&["gone", "nowhere", "backup"], "two").await;
    assert!(f.wait_finished(second).await);
    let seen: Vec<(String, String)> = f.attempts(second).await.into_iter().map(|a| (a.1, a.3)).collect();
    assert_eq!(seen, [("gone".into(), "skipped".into()), ("nowhere".into(), "skipped".into()), ("backup".into(), "delivered".into())]);
    assert_eq!(gone.received().len(), 1, "a disabled channel is not sent to");
    member.stop.cancel();
    member.wait().await.expect("stopped");
    let statuses: Vec<(String, String)> = f.outcomes().into_iter().map(|o| (o.id, o.status)).collect();
    assert_eq!(statuses, [(first.to_string(), "failed".into()), (second.to_string(), "delivered".into())]);
    let _ = WAIT;
}
