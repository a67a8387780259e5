//! A webhook delivery end to end: signed, recorded, its outcome appended;
//! a slow channel holds only its own deliveries.

use std::time::Duration;

use signalops_testkit::fake_receiver::{FakeReceiver, Reply};

use crate::fixture::{Fixture, WAIT, fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_delivery_is_signed_recorded_and_its_outcome_appended_once() {
    let f = fixture().await;
    let receiver = FakeReceiver::start().expect("receiver");
    let secret = f.webhook("hook", &format!("{}/in", receiver.base_url)).await;
    let member = f.start(Fixture::settings());
    let id = f.request(&["hook"], "c1 failed 5 payments").await;

    let got = receiver.wait_for(1, WAIT).await;
    assert!(f.wait_finished(id).await, "the delivery finished");
    let request = &got[0];
    assert_eq!(request.header("webhook-id"), Some(id.to_string().as_str()), "the notification id");
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        headers.insert(name, request.header(name).expect(name).parse().expect("header"));
    }
    let verifier = standardwebhooks::Webhook::new(&secret).expect("secret");
    verifier.verify(&request.body, &headers).expect("the channel's secret verifies the signature");
    let body = request.json();
    assert_eq!(body["type"], "signalops.notification");
    assert_eq!(body["data"]["notification_id"], id.to_string());
    assert_eq!(body["data"]["body"], "c1 failed 5 payments");

    assert_eq!(f.delivery(id).await, ("delivered".into(), 0, 1, Some("hook".into())));
    let attempts = f.attempts(id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!((attempts[0].1.as_str(), attempts[0].2, attempts[0].3.as_str()), ("hook", Some(200), "delivered"));

    member.stop.cancel();
    member.wait().await.expect("stopped");
    let outcomes = f.outcomes();
    assert_eq!(outcomes.len(), 1, "one outcome: {outcomes:?}");
    let o = &outcomes[0];
    assert_eq!(
        (o.id.as_str(), o.status.as_str(), o.channel_id.as_str(), o.channel_kind.as_str(), o.attempts),
        (id.to_string().as_str(), "delivered", "hook", "webhook", 1)
    );
    assert_eq!(receiver.received().len(), 1, "sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_channel_holds_only_its_own_deliveries() {
    let f = fixture().await;
    let slow = FakeReceiver::start().expect("receiver");
    slow.answer(|_, _| Reply::status(200).after(Duration::from_secs(3)));
    let fast = FakeReceiver::start().expect("receiver");
    f.webhook("slow", &format!("{}/in", slow.base_url)).await;
    f.webhook("fast", &format!("{}/in", fast.base_url)).await;
    let settings = Fixture::settings();
    let concurrency = settings.channel_concurrency as usize;
    let member = f.start(settings);
    let mut slow_ids = Vec::new();
    for n in 0..20 {
        slow_ids.push(f.request(&["slow"], &format!("slow {n}")).await);
    }
    let mut fast_ids = Vec::new();
    for n in 0..20 {
        fast_ids.push(f.request(&["fast"], &format!("fast {n}")).await);
    }
    assert_eq!(fast.wait_for(20, WAIT).await.len(), 20, "every fast delivery arrived");
    for id in &fast_ids {
        assert!(f.wait_finished(*id).await, "fast delivery {id} recorded");
    }
    let slow_seen = slow.received().len();
    assert!(
        slow_seen <= concurrency * 2,
        "while the fast channel took 20, the slow one had at most its concurrency in flight per 3 s ({slow_seen} arrived)"
    );
    let db = f.db.superuser().await.expect("superuser");
    let slow_done: i64 = db
        .query_one("SELECT count(*) FROM deliveries WHERE id = ANY($1) AND status = 'delivered'", &[&slow_ids])
        .await
        .expect("count")
        .try_get(0)
        .expect("column");
    assert!(slow_done < 20, "the slow channel was still working through its own ({slow_done} of 20 done)");
    member.stop.cancel();
    member.wait().await.expect("stopped");
}
