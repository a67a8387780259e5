//! Each provider against a loopback fake that checks the request shape of
//! the real API, and the address policy refusing what it must.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use signalops_notify_send::{Message, ProviderSettings, Providers, providers::SmtpSettings};
use signalops_notify_store::address_policy::AddressPolicy;
use signalops_notify_store::channels::{ChannelRecord, OpenedChannel, Status};
use signalops_notify_store::definition::{Credentials, Kind, new_webhook_secret};
use signalops_notify_store::retry::Verdict;
use signalops_testkit::fake_receiver::{FakeReceiver, Reply};

const WAIT: Duration = Duration::from_secs(10);

fn providers(allowed: &str, base: &str) -> Providers {
    let settings = ProviderSettings {
        policy: AddressPolicy::parse(allowed).expect("policy"),
        timeout: Duration::from_millis(1_500),
        telegram_api_base: format!("{base}/telegram").parse().expect("url"),
        whatsapp_api_base: format!("{base}/graph/v21.0").parse().expect("url"),
        smtp: SmtpSettings::default(),
    };
    Providers::new(&settings).expect("providers")
}

fn channel(kind: Kind, settings: serde_json::Value, credentials: Credentials, previous: Option<Credentials>) -> OpenedChannel {
    let record = ChannelRecord {
        id: "ops".into(),
        kind,
        name: "Ops".into(),
        settings,
        status: Status::Active,
        disabled_reason: None,
        disabled_at: None,
        failing_since: None,
        previous_secret_until: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    OpenedChannel { record, credentials, previous }
}

fn message() -> Message {
    Message {
        id: "0193f2a4-2b1c-7d3e-8f4a-5b6c7d8e9f01".into(),
        subject: Some("Payment failed".into()),
        body: "Customer c1 failed 5 payments".into(),
        event_type: "signalops.notification".into(),
        timestamp: "2026-12-06T10:00:00Z".into(),
        data: json!({"rule_id": "r1", "body": "Customer c1 failed 5 payments"}),
    }
}

fn webhook(url: &str, secret: &str, previous: Option<&str>) -> OpenedChannel {
    let headers = BTreeMap::from([("authorization".to_owned(), "Bearer abc".to_owned())]);
    let previous = previous.map(|s| Credentials::Webhook { secret: s.to_owned(), headers: BTreeMap::new() });
    channel(
        Kind::Webhook,
        json!({"url": url, "headers": ["authorization"]}),
        Credentials::Webhook { secret: secret.into(), headers },
        previous,
    )
}

#[tokio::test]
async fn a_webhook_carries_standard_webhooks_headers_that_verify_with_both_secrets_of_a_rotation() {
    let receiver = FakeReceiver::start().expect("receiver");
    let p = providers("127.0.0.0/8", &receiver.base_url);
    let (new, old) = (new_webhook_secret(), new_webhook_secret());
    let timestamp = Utc::now().timestamp();
    let sent = p.send(&webhook(&format!("{}/hooks/in", receiver.base_url), &new, Some(&old)), &message(), timestamp).await;
    assert_eq!(
        (sent.status, sent.excerpt.as_deref(), sent.verdict(std::time::SystemTime::now())),
        (Some(200), Some("ok"), Verdict::Delivered)
    );
    let got = receiver.wait_for(1, WAIT).await;
    let request = &got[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/hooks/in"));
    assert_eq!(request.header("webhook-id"), Some("0193f2a4-2b1c-7d3e-8f4a-5b6c7d8e9f01"));
    assert_eq!(request.header("webhook-timestamp"), Some(timestamp.to_string().as_str()));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("authorization"), Some("Bearer abc"), "the channel's own headers");
    assert!(request.header("user-agent").is_some_and(|ua| ua.starts_with("SignalOps-Notifier/")));
    assert_eq!(
        request.json(),
        json!({"type": "signalops.notification", "timestamp": "2026-12-06T10:00:00Z", "data": {"rule_id": "r1", "body": "Customer c1 failed 5 payments"}})
    );
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        headers.insert(name, request.header(name).expect(name).parse().expect("header"));
    }
    assert_eq!(request.header("webhook-signature").map(|s| s.split(' ').count()), Some(2), "one signature per secret");
    for secret in [&new, &old] {
        let verifier = standardwebhooks::Webhook::new(secret).expect("secret");
        assert!(verifier.verify(&request.body, &headers).is_ok(), "a receiver holding either secret verifies");
    }
    let stranger = standardwebhooks::Webhook::new(&new_webhook_secret()).expect("secret");
    assert!(stranger.verify(&request.body, &headers).is_err());
}

#[tokio::test]
async fn refused_addresses_are_never_connected_to_and_redirects_are_not_followed() {
    let receiver = FakeReceiver::start().expect("receiver");
    let port = receiver.base_url.rsplit(':').next().expect("port").to_owned();
    let strict = providers("", &receiver.base_url);
    let secret = new_webhook_secret();
    for url in [
        format!("http://127.0.0.1:{port}/x"),
        format!("http://localhost:{port}/x"),
        format!("http://[::1]:{port}/x"),
        format!("http://[::ffff:127.0.0.1]:{port}/x"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.1.2.3/x".to_owned(),
        "http://0.0.0.0/x".to_owned(),
    ] {
        let sent = strict.send(&webhook(&url, &secret, None), &message(), 0).await;
        assert!(sent.refused, "{url}: {sent:?}");
        assert_eq!(sent.verdict(std::time::SystemTime::now()), Verdict::Permanent, "{url}");
        assert!(sent.error.as_deref().is_some_and(|e| e.contains("refused") && e.contains("allowed_networks")), "{url}: {sent:?}");
    }
    assert!(receiver.received().is_empty(), "nothing reached the receiver");

    let allowed = providers("127.0.0.0/8", &receiver.base_url);
    receiver.answer(|_, _| Reply::status(302).with_header("location", "http://169.254.169.254/latest/meta-data/"));
    let sent = allowed.send(&webhook(&format!("{}/x", receiver.base_url), &secret, None), &message(), 0).await;
    assert_eq!(sent.status, Some(302));
    assert_eq!(sent.verdict(std::time::SystemTime::now()), Verdict::Retry { retry_after: None }, "a redirect is a failed attempt");
    assert_eq!(receiver.wait_for(1, WAIT).await.len(), 1, "the redirect was not followed");
}

#[tokio::test]
async fn slack_telegram_and_whatsapp_get_the_request_shapes_of_their_apis() {
    let receiver = FakeReceiver::start().expect("receiver");
    let p = providers("127.0.0.0/8", &receiver.base_url);
    let slack =
        channel(Kind::Slack, json!({}), Credentials::Slack { webhook_url: format!("{}/services/T0/B0/xyz", receiver.base_url) }, None);
    let token = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
    let telegram = channel(Kind::Telegram, json!({"chat_id": "-1001234567890"}), Credentials::Telegram { bot_token: token.into() }, None);
    let whatsapp = channel(
        Kind::Whatsapp,
        json!({"phone_number_id": "1055", "to": "+4915123456789"}),
        Credentials::Whatsapp { access_token: "EAAtoken".into() },
        None,
    );
    for c in [&slack, &telegram, &whatsapp] {
        let sent = p.send(c, &message(), 0).await;
        assert_eq!(sent.status, Some(200), "{:?}: {sent:?}", c.record.kind);
    }
    let got = receiver.wait_for(3, WAIT).await;
    assert_eq!(got[0].path, "/services/T0/B0/xyz");
    assert_eq!(got[0].json(), json!({"text": "*Payment failed*\nCustomer c1 failed 5 payments"}));
    assert_eq!(got[1].path, format!("/telegram/bot{token}/sendMessage"));
    assert_eq!(got[1].json(), json!({"chat_id": "-1001234567890", "text": "Payment failed\n\nCustomer c1 failed 5 payments"}));
    assert_eq!(got[2].path, "/graph/v21.0/1055/messages");
    assert_eq!(got[2].header("authorization"), Some("Bearer EAAtoken"));
    assert_eq!(
        got[2].json(),
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "4915123456789", "type": "text",
               "text": {"preview_url": false, "body": "Payment failed\n\nCustomer c1 failed 5 payments"}})
    );
    for r in &got {
        assert_eq!(r.header("content-type"), Some("application/json"), "{}", r.path);
    }
}

#[tokio::test]
async fn answers_are_read_as_the_delivery_log_keeps_them() {
    let receiver = FakeReceiver::start().expect("receiver");
    let p = providers("127.0.0.0/8", &receiver.base_url);
    let token = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
    let telegram = channel(Kind::Telegram, json!({"chat_id": "@alerts_room"}), Credentials::Telegram { bot_token: token.into() }, None);
    receiver.answer(|_, _| Reply::status(429).with_body(r#"{"ok":false,"error_code":429,"parameters":{"retry_after":9}}"#));
    let sent = p.send(&telegram, &message(), 0).await;
    assert_eq!(sent.verdict(std::time::SystemTime::now()), Verdict::Retry { retry_after: Some(Duration::from_secs(9)) });

    let long = "x".repeat(5_000);
    receiver.answer(move |_, _| Reply::status(500).with_body(&long));
    let url = format!("{}/x", receiver.base_url);
    let sent = p.send(&webhook(&url, &new_webhook_secret(), None), &message(), 0).await;
    assert_eq!((sent.status, sent.excerpt.as_ref().map(String::len)), (Some(500), Some(1_024)), "only the first KiB is kept");

    receiver.answer(|_, _| Reply::status(200).after(Duration::from_secs(4)));
    let sent = p.send(&webhook(&url, &new_webhook_secret(), None), &message(), 0).await;
    assert_eq!(sent.status, None);
    assert!(sent.error.as_deref().is_some_and(|e| e.contains("no answer within 1500 ms")), "{sent:?}");

    // A closed port: the error names what failed but never the bot token.
    let closed = providers("127.0.0.0/8", "http://127.0.0.1:9");
    let sent = closed.send(&telegram, &message(), 0).await;
    assert_eq!(sent.status, None);
    assert!(sent.error.as_deref().is_some_and(|e| !e.contains("AAHdqTcv")), "{sent:?}");
}
