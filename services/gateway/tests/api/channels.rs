//! `/v1/channels`: every kind created and read without its credentials,
//! bad channels named field by field, updates that keep what they leave
//! out, secret rotation, the record of changes, and rules checked against
//! the tenant's channels.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use signalops_testkit::eventually;

use crate::helpers::{Person, TestApp, spawn_app, status_and_json, unique_email};

const TELEGRAM_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const SLACK_URL: &str = "http://127.0.0.1:9/services/T000/B000/slack-secret-part";
const WHATSAPP_TOKEN: &str = "EAAGwhatsapp-token-value";
const HEADER_VALUE: &str = "Bearer header-secret-value";

async fn call(app: &TestApp, person: &Person, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    status_and_json(app.call(method, path, Some(&person.access_token), body).await).await
}

/// A webhook channel to loopback.
pub fn webhook(id: &str) -> Value {
    json!({"id": id, "name": format!("Webhook {id}"), "kind": "webhook", "config": {"url": "http://127.0.0.1:9/hook", "headers": {"Authorization": HEADER_VALUE}}})
}

pub async fn create_channel(app: &TestApp, person: &Person, body: Value) -> Value {
    let (status, channel) = call(app, person, Method::POST, "/v1/channels", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    channel
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"].as_array().map(|e| e.iter().filter_map(|x| x["field"].as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

#[tokio::test]
async fn each_kind_is_created_and_its_credentials_are_never_answered_again() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let response = app.call(Method::POST, "/v1/channels", Some(&owner.access_token), Some(webhook("pager"))).await;
    assert_eq!(response.headers().get("location").and_then(|v| v.to_str().ok()), Some("/v1/channels/pager"));
    let (status, created) = status_and_json(response).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().expect("the secret, this once").to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    assert_eq!(created["settings"], json!({"url": "http://127.0.0.1:9/hook", "headers": ["authorization"]}));
    assert_eq!((created["kind"].as_str(), created["status"].as_str()), (Some("webhook"), Some("active")));

    let others = [
        json!({"id": "team-mail", "kind": "email", "config": {"to": ["Ops@Example.com"]}}),
        json!({"id": "team-slack", "kind": "slack", "config": {"webhook_url": SLACK_URL}}),
        json!({"id": "team-telegram", "kind": "telegram", "config": {"bot_token": TELEGRAM_TOKEN, "chat_id": "-1001234567890"}}),
        json!({"id": "team-whatsapp", "kind": "whatsapp", "config": {"phone_number_id": "106540352242922", "access_token": WHATSAPP_TOKEN, "to": "+4915123456789"}}),
    ];
    for body in others {
        let channel = create_channel(&app, &owner, body).await;
        assert!(channel["secret"].is_null(), "only webhooks have a secret: {channel}");
        assert_eq!(channel["name"], channel["id"], "the name defaults to the id");
    }
    let (_, mail) = call(&app, &owner, Method::GET, "/v1/channels/team-mail", None).await;
    assert_eq!(mail["settings"], json!({"to": ["ops@example.com"]}));

    let (status, list) = call(&app, &owner, Method::GET, "/v1/channels?limit=10", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list["items"].as_array().expect("items").iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, ["ops", "pager", "team-mail", "team-slack", "team-telegram", "team-whatsapp"], "oldest first");
    let (_, one) = call(&app, &owner, Method::GET, "/v1/channels/pager", None).await;
    for answer in [list.to_string(), one.to_string()] {
        for credential in [secret.as_str(), HEADER_VALUE, SLACK_URL, "slack-secret-part", TELEGRAM_TOKEN, WHATSAPP_TOKEN] {
            assert!(!answer.contains(credential), "a credential was answered: {answer}");
        }
        assert!(!answer.contains("\"secret\""), "{answer}");
    }
    // At rest, too, nothing is readable.
    let db = app.db.superuser().await.expect("superuser");
    let rows = db.query("SELECT sealed, settings::text FROM channels", &[]).await.expect("channels");
    for row in rows {
        let sealed: Vec<u8> = row.try_get(0).expect("sealed");
        let settings: String = row.try_get(1).expect("settings");
        let stored = format!("{}{settings}", String::from_utf8_lossy(&sealed));
        for credential in [secret.as_str(), HEADER_VALUE, "slack-secret-part", TELEGRAM_TOKEN, WHATSAPP_TOKEN] {
            assert!(!stored.contains(credential), "stored in the clear: {credential}");
        }
    }

    let (status, problem) = call(&app, &owner, Method::POST, "/v1/channels", Some(webhook("pager"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, _) = call(&app, &owner, Method::GET, "/v1/channels/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_channels_are_422_naming_each_field() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let cases = [
        (json!({"id": "Bad Id", "kind": "pigeon", "config": {}, "color": "red"}), vec!["/color", "/id", "/kind"]),
        (json!({"kind": "webhook"}), vec!["/id", "/config"]),
        (
            json!({"id": "w", "kind": "webhook", "config": {"url": "ftp://x", "headers": {"webhook-id": "x"}, "secret": "short"}}),
            vec!["/config/url", "/config/headers/webhook-id", "/config/secret"],
        ),
        (
            json!({"id": "m", "kind": "email", "config": {"to": ["nope", "a@example.com", "a@example.com"]}}),
            vec!["/config/to/0", "/config/to/2"],
        ),
        (
            json!({"id": "t", "kind": "telegram", "config": {"bot_token": "x", "chat_id": "general"}}),
            vec!["/config/bot_token", "/config/chat_id"],
        ),
        (json!({"id": "n", "name": "", "kind": "slack", "config": {"webhook_url": "nope"}}), vec!["/name", "/config/webhook_url"]),
        (json!(["not", "an", "object"]), vec!["(body)"]),
        (json!({"id": "z", "kind": "slack", "config": {"webhook_url": "https://hooks.example.com/a\u{0}b"}}), vec!["config.webhook_url"]),
        (json!({"id": "z", "name": "a\u{1}", "kind": "webhook", "config": {"url": "https://e.com/a\u{1}b"}}), vec!["/name", "/config/url"]),
    ];
    for (body, expected) in cases {
        let (status, problem) = call(&app, &owner, Method::POST, "/v1/channels", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        assert_eq!(fields(&problem), expected, "{body}: {problem}");
        assert!(!problem.to_string().contains("short\""), "a given secret is never echoed: {problem}");
    }
    let (status, problem) =
        call(&app, &owner, Method::PATCH, "/v1/channels/ops", Some(json!({"config": {"url": "https://e.com", "secret": "whsec_x"}}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["/config/secret", "/config/secret"], "{problem}");
}

#[tokio::test]
async fn an_update_keeps_what_it_leaves_out_and_a_rotation_keeps_the_previous_secret_signing() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let created = create_channel(&app, &owner, webhook("hooks")).await;
    let first_secret = created["secret"].as_str().expect("secret").to_owned();

    let (status, updated) = call(
        &app,
        &owner,
        Method::PATCH,
        "/v1/channels/hooks",
        Some(json!({"name": "Hooks", "config": {"url": "https://example.com/v2"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["settings"], json!({"url": "https://example.com/v2", "headers": ["authorization"]}), "headers kept");
    assert_eq!(updated["name"], "Hooks");
    assert!(updated["secret"].is_null());

    let (status, rotated) = call(&app, &owner, Method::POST, "/v1/channels/hooks/rotate-secret", None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second_secret = rotated["secret"].as_str().expect("the new secret").to_owned();
    assert!(second_secret.starts_with("whsec_") && second_secret != first_secret);
    let until: chrono::DateTime<chrono::Utc> = rotated["previous_secret_until"].as_str().expect("until").parse().expect("time");
    let overlap = until - chrono::Utc::now();
    assert!(overlap > chrono::Duration::hours(23) && overlap <= chrono::Duration::hours(24), "24 hours by default: {overlap}");

    let (status, _) = call(&app, &owner, Method::POST, "/v1/channels/ops/rotate-secret", None).await;
    assert_eq!(status, StatusCode::OK, "ops is a webhook too");
    create_channel(&app, &owner, json!({"id": "mail", "kind": "email", "config": {"to": ["a@example.com"]}})).await;
    let (status, problem) = call(&app, &owner, Method::POST, "/v1/channels/mail/rotate-secret", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");

    let (status, enabled) = call(&app, &owner, Method::POST, "/v1/channels/hooks/enable", None).await;
    assert_eq!((status, enabled["status"].as_str()), (StatusCode::OK, Some("active")));
    let (status, _) = call(&app, &owner, Method::DELETE, "/v1/channels/hooks", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&app, &owner, Method::GET, "/v1/channels/hooks", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_change_is_audited_and_staged_as_a_system_event_without_credentials() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let created = create_channel(&app, &owner, webhook("audited")).await;
    let secret = created["secret"].as_str().expect("secret").to_owned();
    for (method, path, body) in [
        (Method::PATCH, "", Some(json!({"name": "Audited"}))),
        (Method::POST, "/rotate-secret", None),
        (Method::POST, "/enable", None),
        (Method::DELETE, "", None),
    ] {
        let (status, answer) = call(&app, &owner, method, &format!("/v1/channels/audited{path}"), body).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
    }
    let (_, log) = call(&app, &owner, Method::GET, "/v1/audit-log?limit=200", None).await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["target"] == "channel/audited")
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["channel.deleted", "channel.enabled", "channel.secret_rotated", "channel.updated", "channel.created"]);
    assert!(!log.to_string().contains(&secret) && !log.to_string().contains(HEADER_VALUE));

    let wanted: HashSet<&str> = ["created", "updated", "secret_rotated", "enabled", "deleted"].into();
    let events = eventually(Duration::from_secs(15), || async {
        let events: Vec<signalops_proto::Event> = app.system_events().into_iter().filter(|e| e.subject == "channel/audited").collect();
        let seen: HashSet<&str> = events.iter().filter_map(|e| e.r#type.strip_prefix("signalops.channel.")).collect();
        (seen == wanted).then_some(events)
    })
    .await
    .expect("every change's system event is appended");
    for event in events {
        let data = String::from_utf8_lossy(&event.data).into_owned();
        assert!(!data.contains(&secret) && !data.contains(HEADER_VALUE), "{data}");
        assert_eq!(event.tenant_id, owner.tenant_id);
    }
}

#[tokio::test]
async fn a_rule_may_only_name_the_tenants_channels() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let mut document = crate::rules::rule_doc("chained");
    document["actions"] = json!([{"notify": {"channels": ["ops", "pager"], "body": "{{ event.id }}"}}]);
    let (status, problem) = call(&app, &owner, Method::POST, "/v1/rules", Some(document.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["/actions/0/notify/channels/1"], "{problem}");
    assert!(problem.to_string().contains("unknown channel \\\"pager\\\""), "{problem}");
    let (status, problem) =
        call(&app, &owner, Method::POST, "/v1/rules/test", Some(json!({"rule": document.clone(), "events": [{"type": "payment.failed"}]})))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a draft is validated like a save: {problem}");
    assert_eq!(fields(&problem), ["/rule/actions/0/notify/channels/1"]);

    // Another tenant's channel of that id does not count.
    let other = app.signup(&unique_email("other"), "other").await;
    create_channel(&app, &other, webhook("pager")).await;
    let (status, _) = call(&app, &owner, Method::POST, "/v1/rules", Some(document.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    create_channel(&app, &owner, webhook("pager")).await;
    let (status, rule) = call(&app, &owner, Method::POST, "/v1/rules", Some(document)).await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
}
