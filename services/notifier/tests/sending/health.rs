//! A channel failing for long enough is warned about, then disabled, each
//! with its system event; one success clears it.

use chrono::TimeDelta;
use signalops_notifier::health;
use signalops_testkit::fake_receiver::{FakeReceiver, Reply};

use crate::fixture::{Fixture, fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_channel_failing_for_a_day_is_warned_about_and_after_five_days_disabled() {
    let f = fixture().await;
    let receiver = FakeReceiver::start().expect("receiver");
    receiver.answer(|_, _| Reply::status(500));
    f.webhook("flaky", &format!("{}/in", receiver.base_url)).await;
    let member = f.start(Fixture::settings());
    let id = f.request(&["flaky"], "fails").await;
    assert_eq!(f.wait_attempts(id, 1).await, 1);
    member.stop.cancel();
    member.wait().await.expect("stopped");

    let db = f.db.superuser().await.expect("superuser");
    let since: Option<chrono::DateTime<chrono::Utc>> =
        db.query_one("SELECT failing_since FROM channels WHERE id = 'flaky'", &[]).await.expect("channel").try_get(0).expect("column");
    let since = since.expect("failing since its first failure");
    let (warn, disable) = (TimeDelta::hours(24), TimeDelta::hours(120));
    assert_eq!(health::pass(&f.pool, since + TimeDelta::hours(23), warn, disable).await.expect("pass"), health::Pass::default());
    assert_eq!(
        health::pass(&f.pool, since + TimeDelta::hours(25), warn, disable).await.expect("pass"),
        health::Pass { warned: 1, disabled: 0 }
    );
    assert_eq!(
        health::pass(&f.pool, since + TimeDelta::hours(26), warn, disable).await.expect("pass"),
        health::Pass::default(),
        "warned once"
    );
    assert_eq!(
        health::pass(&f.pool, since + TimeDelta::hours(121), warn, disable).await.expect("pass"),
        health::Pass { warned: 0, disabled: 1 }
    );
    assert_eq!(f.system_events().await, ["signalops.channel.failing", "signalops.channel.disabled"]);
    let status: String =
        db.query_one("SELECT status FROM channels WHERE id = 'flaky'", &[]).await.expect("channel").try_get(0).expect("column");
    assert_eq!(status, "disabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_delivered_attempt_clears_a_failing_channel() {
    let f = fixture().await;
    let receiver = FakeReceiver::start().expect("receiver");
    receiver.answer(|_, n| if n == 0 { Reply::status(500) } else { Reply::status(200) });
    f.webhook("flaky", &format!("{}/in", receiver.base_url)).await;
    let member = f.start(Fixture::settings());
    let id = f.request(&["flaky"], "fails, then not").await;
    assert_eq!(f.wait_attempts(id, 1).await, 1);
    let db = f.db.superuser().await.expect("superuser");
    let failing: bool = db
        .query_one("SELECT failing_since IS NOT NULL FROM channels WHERE id = 'flaky'", &[])
        .await
        .expect("row")
        .try_get(0)
        .expect("column");
    assert!(failing);
    f.advance(TimeDelta::seconds(6));
    assert!(f.wait_finished(id).await);
    let failing: bool = db
        .query_one("SELECT failing_since IS NOT NULL FROM channels WHERE id = 'flaky'", &[])
        .await
        .expect("row")
        .try_get(0)
        .expect("column");
    assert!(!failing, "healthy again");
    member.stop.cancel();
    member.wait().await.expect("stopped");
}
