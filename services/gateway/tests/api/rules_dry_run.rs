//! `POST /v1/rules/test`: traces, states carried across the samples in
//! order, rendered actions, saved versions, bounds and no side effects.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Person, TestApp, assert_problem, spawn_app, status_and_json, unique_email};
use crate::rules::{create_rule, rule_doc};

async fn dry_run(app: &TestApp, person: &Person, body: Value) -> (StatusCode, Value) {
    status_and_json(app.call(Method::POST, "/v1/rules/test", Some(&person.access_token), Some(body)).await).await
}

fn windowed_draft() -> Value {
    json!({
        "name": "Repeated failures",
        "event_types": ["payment."],
        "when": {"all": [{"path": "/data/amount", "op": "gte", "value": 100}, {"path": "data.currency", "op": "in", "value": ["EUR", "USD"]}]},
        "window": {"count": 2, "within": "10m", "per": "/data/customer"},
        "actions": [{"notify": {"channels": ["ops"], "subject": "{{ rule.name }}", "body": "{{ event.data.customer }} failed {{ event.data.amount }}"}}]
    })
}

fn sample(id: &str, event_type: &str, customer: &str, amount: i64, at: &str) -> Value {
    json!({"id": id, "type": event_type, "received_at": at, "data": {"customer": customer, "amount": amount, "currency": "EUR"}})
}

#[tokio::test]
async fn a_draft_is_traced_per_leaf_and_its_window_carries_across_the_samples() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let events = json!([
        sample("e1", "payment.failed", "c1", 50, "2026-01-01T10:00:00Z"),
        sample("e2", "payment.failed", "c1", 200, "2026-01-01T10:00:00Z"),
        sample("e3", "payment.failed", "c2", 300, "2026-01-01T10:01:00Z"),
        sample("e4", "payment.failed", "c1", 400, "2026-01-01T10:10:00Z"),
        sample("e5", "invoice.paid", "c1", 500, "2026-01-01T10:11:00Z"),
        sample("e6", "payment.failed", "c2", 600, "2026-01-01T10:11:01Z"),
    ]);
    let (status, answer) = dry_run(&app, &owner, json!({"rule": windowed_draft(), "events": events})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["rule"], json!({"id": uuid::Uuid::nil(), "version": 0, "draft": true}));
    let results = answer["results"].as_array().expect("results");
    let outcomes: Vec<&str> = results.iter().map(|r| r["verdict"]["outcome"].as_str().unwrap_or("")).collect();
    assert_eq!(outcomes, ["no_match", "window_pending", "window_pending", "fired", "not_applicable", "window_pending"]);

    // The first event: the first leaf false with its reason, the second skipped.
    assert_eq!(
        results[0]["trace"],
        json!([
            {"at": "/all/0", "path": "/data/amount", "resolved": 50, "op": "gte", "expected": 100, "result": "false", "reason": "comparison is false"},
            {"at": "/all/1", "path": "data.currency", "op": "in", "expected": ["EUR", "USD"], "result": "skipped", "reason": "skipped: an earlier condition decided the result"}
        ])
    );
    assert_eq!(results[3]["trace"][1]["resolved"], "EUR");
    // e4 saw c1's window holding e2 and fired (10 minutes apart: inclusive), restarting it.
    assert_eq!(results[3]["state"]["keys"]["window"], json!({"kind": "key", "key": "c1"}));
    assert_eq!(results[3]["state"]["before"]["window"]["events"], json!(["2026-01-01T10:00:00Z"]));
    assert_eq!(results[3]["state"]["after"]["window"]["events"], json!([]));
    let action = &results[3]["actions"][0];
    assert_eq!(action["rendered"]["notify"]["body"], "c1 failed 400");
    assert_eq!(action["rendered"]["notify"]["subject"], "Repeated failures");
    assert_eq!(action["rendered"]["notify"]["channels"], json!(["ops"]));
    assert!(results[2]["actions"].as_array().is_some_and(Vec::is_empty));
    // c2's window is its own: e6 comes 10m01s after e3, so it starts over.
    assert_eq!(results[5]["verdict"]["window"], json!({"kind": "counted", "count": 1, "needed": 2}));
    assert_eq!(results[4]["applies"], false);
    assert_eq!(answer["summary"], json!({"events": 6, "matched": 4, "fired": 1, "suppressed": 0}));
}

#[tokio::test]
async fn a_throttle_suppresses_later_samples_and_says_why() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let mut draft = rule_doc("throttled");
    draft["throttle"] = json!({"at_most": 1, "per": "1h"});
    let events: Vec<Value> = ["10:00:00", "10:30:00", "11:00:00"]
        .iter()
        .enumerate()
        .map(|(i, t)| sample(&format!("e{i}"), "payment.failed", "c", 1, &format!("2026-01-01T{t}Z")))
        .collect();
    let (status, answer) = dry_run(&app, &owner, json!({"rule": draft, "events": events})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let verdicts: Vec<&Value> = answer["results"].as_array().expect("results").iter().map(|r| &r["verdict"]).collect();
    assert_eq!(verdicts[0]["outcome"], "fired");
    assert_eq!(*verdicts[1], json!({"outcome": "suppressed", "reason": {"kind": "throttled", "at_most": 1}}));
    assert_eq!(verdicts[2]["outcome"], "fired", "the period is half-open");
}

#[tokio::test]
async fn a_sample_without_a_time_has_its_received_at_as_its_time_as_in_the_rules_group() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let mut draft = rule_doc("early");
    draft["when"] = json!({"path": "time", "op": "lt", "value": "2026-01-01T12:00:00Z"});
    draft["actions"] = json!([{"notify": {"channels": ["ops"], "body": "at {{ event.time }}"}}]);
    let mut given = sample("given", "payment.failed", "c", 1, "2026-01-01T13:00:00Z");
    given["time"] = json!("2026-01-01T11:00:00Z");
    let events = json!([
        given,
        sample("received", "payment.failed", "c", 1, "2026-01-01T11:30:00Z"),
        sample("late", "payment.failed", "c", 1, "2026-01-01T12:30:00Z")
    ]);
    let (status, answer) = dry_run(&app, &owner, json!({"rule": draft, "events": events})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let results = answer["results"].as_array().expect("results");
    let outcomes: Vec<&str> = results.iter().map(|r| r["verdict"]["outcome"].as_str().unwrap_or("")).collect();
    assert_eq!(outcomes, ["fired", "fired", "no_match"], "the client's time when given, else received_at");
    assert_eq!(results[1]["trace"][0]["resolved"], "2026-01-01T11:30:00Z");
    assert_eq!(results[1]["actions"][0]["rendered"]["notify"]["body"], "at 2026-01-01T11:30:00Z");
}

#[tokio::test]
async fn a_saved_rule_runs_its_current_or_an_earlier_version() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let rule = create_rule(&app, &owner, rule_doc("eur")).await;
    let rule_id = rule["id"].as_str().expect("id").to_owned();
    let mut usd = rule_doc("usd");
    usd["when"] = json!({"equals": {"currency": "USD"}});
    app.call(Method::PUT, &format!("/v1/rules/{rule_id}"), Some(&owner.access_token), Some(usd)).await;
    let event = json!([{"type": "payment.failed", "data": {"currency": "EUR", "customer": "c", "amount": 1}}]);
    let (status, current) = dry_run(&app, &owner, json!({"rule_id": rule_id, "events": event})).await;
    assert_eq!(status, StatusCode::OK, "{current}");
    assert_eq!((current["rule"]["version"].as_u64(), current["results"][0]["matched"].as_bool()), (Some(2), Some(false)));
    let (_, first) = dry_run(&app, &owner, json!({"rule_id": rule_id, "version": 1, "events": event})).await;
    assert_eq!((first["rule"]["version"].as_u64(), first["results"][0]["matched"].as_bool()), (Some(1), Some(true)));
    assert_eq!(first["results"][0]["event_id"], "sample-1");
    // Action ids are deterministic: the rule id, version, event id and position.
    let expected = signalops_rule_engine::action_id("sample-1", rule_id.parse().expect("uuid"), 1, 0);
    assert_eq!(first["results"][0]["actions"][0]["id"], json!(expected));
}

#[tokio::test]
async fn a_dry_run_writes_nothing() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let rule = create_rule(&app, &owner, rule_doc("r")).await;
    let db = app.db.superuser().await.expect("superuser");
    let counts = || async {
        let mut counts = Vec::new();
        for table in ["rules", "rule_versions", "rule_states", "rule_firings", "audit_log"] {
            let n: i64 = db.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.expect("count").try_get(0).expect("n");
            counts.push((table, n));
        }
        counts
    };
    let before = counts().await;
    let events = json!([sample("e1", "payment.failed", "c", 1, "2026-01-01T10:00:00Z")]);
    for body in [json!({"rule_id": rule["id"], "events": events}), json!({"rule": rule_doc("draft"), "events": events})] {
        let (status, answer) = dry_run(&app, &owner, body).await;
        assert_eq!((status, answer["summary"]["fired"].as_u64()), (StatusCode::OK, Some(1)), "{answer}");
    }
    assert_eq!(counts().await, before);
}

#[tokio::test]
async fn bad_dry_runs_are_4xx_naming_the_field() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let one = json!([{"type": "payment.failed"}]);
    let too_many: Vec<Value> = (0..101).map(|_| json!({"type": "payment.failed"})).collect();
    let mut bad_draft = rule_doc("bad");
    bad_draft["when"] = json!({"path": "/data/amount", "op": "bogus", "value": 1});
    let cases = [
        (json!({"rule": rule_doc("r"), "events": too_many}), "events"),
        (json!({"rule": rule_doc("r"), "events": []}), "events"),
        (json!({"rule": bad_draft, "events": one}), "/rule/when/op"),
        (json!({"rule": rule_doc("r"), "rule_id": uuid::Uuid::now_v7(), "events": one}), "rule"),
        (json!({"events": one}), "rule"),
        (json!({"rule": rule_doc("r"), "version": 2, "events": one}), "version"),
        (json!({"rule": rule_doc("r"), "events": [{"type": ""}]}), "events[0].type"),
        (json!({"rule": rule_doc("r"), "events": [{"type": "a", "id": "x".repeat(200)}]}), "events[0].id"),
    ];
    for (body, field) in cases {
        let problem = assert_problem(
            app.call(Method::POST, "/v1/rules/test", Some(&owner.access_token), Some(body.clone())).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
        )
        .await;
        let fields: Vec<&str> = problem["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
        assert!(fields.contains(&field), "{field} not named for {body}: {problem}");
    }
    // An unknown field in an event or the body is refused by name.
    let problem = assert_problem(
        app.call(
            Method::POST,
            "/v1/rules/test",
            Some(&owner.access_token),
            Some(json!({"rule": rule_doc("r"), "events": [{"type": "a", "colour": 1}]})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
    assert!(problem.to_string().contains("colour"), "{problem}");
    let unknown = json!({"rule_id": uuid::Uuid::now_v7(), "events": one});
    assert_problem(
        app.call(Method::POST, "/v1/rules/test", Some(&owner.access_token), Some(unknown)).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}
