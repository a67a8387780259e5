//! `POST /v1/rules/{id}/backtest` over events ingested through the gateway
//! and projected by the real projector: window semantics, the tenant
//! boundary, the same firings as a dry run of the same events, and the
//! bounds that stop a run and say where.

use chrono::{Duration as TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Person, TestApp, assert_problem, spawn_app, spawn_app_with, status_and_json, unique_email};
use crate::query::{projector, send_batch, tenant_with_key, wait_for_events};
use crate::rules::create_rule;

fn windowed_rule() -> Value {
    json!({
        "name": "Three large failures",
        "event_types": ["payment.failed"],
        "when": {"path": "/data/amount", "op": "gte", "value": 100},
        "window": {"count": 3, "within": "1h", "per": "/data/customer"},
        "actions": [{"notify": {"channels": ["ops"], "body": "{{ event.data.customer }}: three failures, last {{ event.data.amount }}"}}]
    })
}

fn payment(id: &str, event_type: &str, customer: &str, amount: i64) -> Value {
    json!({"id": id, "type": event_type, "data": {"customer": customer, "amount": amount}})
}

async fn backtest(app: &TestApp, person: &Person, rule_id: &str, body: Value) -> (StatusCode, Value) {
    status_and_json(app.call(Method::POST, &format!("/v1/rules/{rule_id}/backtest"), Some(&person.access_token), Some(body)).await).await
}

fn around_now() -> Value {
    json!({"from": Utc::now() - TimeDelta::hours(1), "to": Utc::now() + TimeDelta::hours(1)})
}

#[tokio::test]
async fn a_backtest_folds_the_tenants_stored_events_with_window_semantics() {
    let app = spawn_app().await;
    let _projector = projector(&app).await;
    let (owner, key) = tenant_with_key(&app).await;
    let (_, other_key) = tenant_with_key(&app).await;
    let events = vec![
        payment("e0", "payment.failed", "a", 150),
        payment("e1", "payment.failed", "b", 150),
        payment("e2", "payment.failed", "a", 50),
        payment("e3", "payment.failed", "a", 200),
        payment("e4", "payment.sent", "a", 500),
        payment("e5", "payment.failed", "a", 300),
        payment("e6", "payment.failed", "b", 100),
        payment("e7", "payment.failed", "b", 120),
        payment("e8", "payment.failed", "a", 100),
        payment("e9", "payment.failed", "a", 100),
        payment("e10", "payment.failed", "a", 100),
    ];
    send_batch(&app, &key, events.clone()).await;
    // Another tenant's events of the same type are never read.
    send_batch(&app, &other_key, (0..5).map(|i| payment(&format!("x{i}"), "payment.failed", "a", 500)).collect()).await;
    wait_for_events(&app, &key, events.len()).await;
    wait_for_events(&app, &other_key, 5).await;
    let rule = create_rule(&app, &owner, windowed_rule()).await;
    let rule_id = rule["id"].as_str().expect("id").to_owned();

    let (status, answer) = backtest(&app, &owner, &rule_id, around_now()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (answer["scanned"].as_u64(), answer["matched"].as_u64(), answer["fired"].as_u64(), answer["suppressed"].as_u64()),
        (Some(10), Some(9), Some(3), Some(0)),
        "{answer}"
    );
    assert_eq!((answer["truncated"].as_bool(), answer.get("stopped")), (Some(false), None));
    let fired: Vec<&str> = answer["firings"].as_array().expect("firings").iter().filter_map(|f| f["event_id"].as_str()).collect();
    assert_eq!(fired, ["e5", "e7", "e10"]);
    let first = &answer["firings"][0];
    assert_eq!(first["trace"][0]["resolved"], 300);
    assert_eq!(first["actions"][0]["rendered"]["notify"]["body"], "a: three failures, last 300");
    assert_eq!(answer["version"], 1);

    // A dry run of the same events in the same order fires on the same ones.
    let samples: Vec<Value> = events.iter().map(|e| json!({"id": e["id"], "type": e["type"], "data": e["data"]})).collect();
    let (_, dry) = status_and_json(
        app.call(Method::POST, "/v1/rules/test", Some(&owner.access_token), Some(json!({"rule_id": rule_id, "events": samples}))).await,
    )
    .await;
    let dry_fired: Vec<&str> = dry["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["verdict"]["outcome"] == "fired")
        .filter_map(|r| r["event_id"].as_str())
        .collect();
    assert_eq!(dry_fired, fired);

    // `limit` caps the list, not the counts.
    let mut limited = around_now();
    limited["limit"] = json!(1);
    let (_, answer) = backtest(&app, &owner, &rule_id, limited).await;
    assert_eq!(
        (answer["firings"].as_array().map(Vec::len), answer["firings_truncated"].as_bool(), answer["fired"].as_u64()),
        (Some(1), Some(true), Some(3))
    );
    // A range with no events scans nothing.
    let later = json!({"from": Utc::now() + TimeDelta::hours(1), "to": Utc::now() + TimeDelta::hours(2)});
    let (_, answer) = backtest(&app, &owner, &rule_id, later).await;
    assert_eq!((answer["scanned"].as_u64(), answer["fired"].as_u64()), (Some(0), Some(0)));
}

#[tokio::test]
async fn a_backtest_stops_at_its_event_bound_and_says_where() {
    let app = spawn_app_with(|config| {
        config.rules_api.backtest_max_events = 4;
        // Pages smaller than the bound: the bound holds across pages.
        config.rules_api.backtest_page_size = 3;
    })
    .await;
    let _projector = projector(&app).await;
    let (owner, key) = tenant_with_key(&app).await;
    let rule = create_rule(&app, &owner, windowed_rule()).await;
    let rule_id = rule["id"].as_str().expect("id").to_owned();
    send_batch(&app, &key, (0..4).map(|i| payment(&format!("e{i}"), "payment.failed", "a", 100)).collect()).await;
    wait_for_events(&app, &key, 4).await;
    // Exactly the bound and nothing more: not truncated.
    let (status, answer) = backtest(&app, &owner, &rule_id, around_now()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (answer["scanned"].as_u64(), answer["truncated"].as_bool(), answer["fired"].as_u64()),
        (Some(4), Some(false), Some(1)),
        "{answer}"
    );

    send_batch(&app, &key, (4..10).map(|i| payment(&format!("e{i}"), "payment.failed", "a", 100)).collect()).await;
    wait_for_events(&app, &key, 10).await;
    let (_, answer) = backtest(&app, &owner, &rule_id, around_now()).await;
    assert_eq!((answer["scanned"].as_u64(), answer["truncated"].as_bool()), (Some(4), Some(true)), "{answer}");
    assert_eq!(answer["stopped"]["reason"], "max_events");
    assert_eq!(answer["stopped"]["last_event_id"], "e3");
    assert!(answer["stopped"]["last_received_at"].is_string(), "{answer}");
}

#[tokio::test]
async fn a_backtest_out_of_time_answers_truncated_instead_of_failing() {
    let app = spawn_app_with(|config| config.rules_api.backtest_time_budget_ms = 0).await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let rule = create_rule(&app, &owner, windowed_rule()).await;
    let (status, answer) = backtest(&app, &owner, rule["id"].as_str().expect("id"), around_now()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!((answer["truncated"].as_bool(), answer["stopped"]["reason"].as_str()), (Some(true), Some("time_budget")), "{answer}");
}

#[tokio::test]
async fn bad_backtests_are_4xx_naming_the_field() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let rule = create_rule(&app, &owner, windowed_rule()).await;
    let rule_id = rule["id"].as_str().expect("id").to_owned();
    let now = Utc::now();
    let cases = [
        (json!({"from": now, "to": now}), "to"),
        (json!({"from": now, "to": now - TimeDelta::seconds(1)}), "to"),
        (json!({"from": now, "to": now + TimeDelta::hours(1), "limit": 0}), "limit"),
        (json!({"from": now, "to": now + TimeDelta::hours(1), "limit": 1_000_000}), "limit"),
        (json!({"from": "yesterday", "to": now}), "from"),
        (json!({"to": now}), "(body)"),
    ];
    for (body, field) in cases {
        let problem = assert_problem(
            app.call(Method::POST, &format!("/v1/rules/{rule_id}/backtest"), Some(&owner.access_token), Some(body.clone())).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
        )
        .await;
        let fields: Vec<&str> = problem["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
        assert!(fields.contains(&field), "{field} not named for {body}: {problem}");
    }
    let unknown = json!({"from": now, "to": now + TimeDelta::hours(1), "colour": 1});
    let problem = assert_problem(
        app.call(Method::POST, &format!("/v1/rules/{rule_id}/backtest"), Some(&owner.access_token), Some(unknown)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
    assert!(problem.to_string().contains("colour"), "{problem}");
    let missing_version = json!({"from": now, "to": now + TimeDelta::hours(1), "version": 2});
    assert_problem(
        app.call(Method::POST, &format!("/v1/rules/{rule_id}/backtest"), Some(&owner.access_token), Some(missing_version)).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}
