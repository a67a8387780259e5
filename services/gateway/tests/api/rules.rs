//! The rules admin API: rules with immutable versions, operational status,
//! soft deletes, stable pages, firings, and the record of every change.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use signalops_testkit::eventually;

use crate::helpers::{Person, TestApp, assert_problem, spawn_app, status_and_json, unique_email};

/// A valid rule document named `name`.
pub fn rule_doc(name: &str) -> Value {
    json!({
        "name": name,
        "event_types": ["payment.failed"],
        "when": {"equals": {"currency": "EUR"}},
        "actions": [{"notify": {"channels": ["ops"], "body": "{{ event.data.customer }} failed {{ event.data.amount }}"}}]
    })
}

pub async fn create_rule(app: &TestApp, person: &Person, document: Value) -> Value {
    let (status, rule) = status_and_json(app.call(Method::POST, "/v1/rules", Some(&person.access_token), Some(document)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    rule
}

async fn call(app: &TestApp, person: &Person, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    status_and_json(app.call(method, path, Some(&person.access_token), body).await).await
}

fn id(rule: &Value) -> String {
    rule["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn an_update_keeps_the_id_and_makes_a_new_version_and_old_versions_stay() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let response = app.call(Method::POST, "/v1/rules", Some(&owner.access_token), Some(rule_doc("Failed EUR payments"))).await;
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (status, created) = status_and_json(response).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let rule_id = id(&created);
    assert_eq!(location, format!("/v1/rules/{rule_id}"));
    assert_eq!((created["current_version"].as_u64(), created["status"].as_str()), (Some(1), Some("active")));
    // Stored in normal form: the shorthand is expanded, the status is the rule's.
    assert_eq!(created["document"]["when"], json!({"path": "/data/currency", "op": "eq", "value": "EUR"}));
    assert!(created["document"].get("status").is_none(), "{created}");

    let mut changed = rule_doc("Failed USD payments");
    changed["when"] = json!({"path": "/data/currency", "op": "eq", "value": "USD"});
    let (status, updated) = call(&app, &owner, Method::PUT, &format!("/v1/rules/{rule_id}"), Some(changed)).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(id(&updated), rule_id);
    assert_eq!((updated["current_version"].as_u64(), updated["name"].as_str()), (Some(2), Some("Failed USD payments")));

    let (_, got) = call(&app, &owner, Method::GET, &format!("/v1/rules/{rule_id}"), None).await;
    assert_eq!(got["document"]["when"]["value"], "USD");
    let (status, versions) = call(&app, &owner, Method::GET, &format!("/v1/rules/{rule_id}/versions"), None).await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    let numbers: Vec<u64> = versions["items"].as_array().expect("items").iter().filter_map(|v| v["version"].as_u64()).collect();
    assert_eq!(numbers, [2, 1]);
    assert_eq!(versions["items"][1]["created_by"], json!(owner.user_id));
    let (status, first) = call(&app, &owner, Method::GET, &format!("/v1/rules/{rule_id}/versions/1"), None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        (first["document"]["name"].as_str(), first["document"]["when"]["value"].as_str()),
        (Some("Failed EUR payments"), Some("EUR"))
    );
    for missing in ["0", "3", "4294967295"] {
        let response = app.call(Method::GET, &format!("/v1/rules/{rule_id}/versions/{missing}"), Some(&owner.access_token), None).await;
        assert_problem(response, StatusCode::NOT_FOUND, "not-found").await;
    }
    // A status in the document sets it; without one the status is kept.
    let mut paused = rule_doc("Failed USD payments");
    paused["status"] = json!("paused");
    let (_, v3) = call(&app, &owner, Method::PUT, &format!("/v1/rules/{rule_id}"), Some(paused)).await;
    assert_eq!((v3["current_version"].as_u64(), v3["status"].as_str()), (Some(3), Some("paused")));
    let (_, v4) = call(&app, &owner, Method::PUT, &format!("/v1/rules/{rule_id}"), Some(rule_doc("Failed USD payments"))).await;
    assert_eq!((v4["current_version"].as_u64(), v4["status"].as_str()), (Some(4), Some("paused")));
}

#[tokio::test]
async fn pause_and_resume_change_the_status_without_a_version() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let rule_id = id(&create_rule(&app, &owner, rule_doc("r")).await);
    for (action, status) in [("pause", "paused"), ("pause", "paused"), ("resume", "active"), ("resume", "active")] {
        let (code, rule) = call(&app, &owner, Method::POST, &format!("/v1/rules/{rule_id}/{action}"), None).await;
        assert_eq!(code, StatusCode::OK, "{action}: {rule}");
        assert_eq!((rule["status"].as_str(), rule["current_version"].as_u64()), (Some(status), Some(1)), "{action}");
    }
    let (_, versions) = call(&app, &owner, Method::GET, &format!("/v1/rules/{rule_id}/versions"), None).await;
    assert_eq!(versions["items"].as_array().map(Vec::len), Some(1));
    // A pause or resume that changed nothing recorded nothing.
    let (_, log) = call(&app, &owner, Method::GET, "/v1/audit-log?limit=200", None).await;
    let actions: Vec<&str> =
        log["items"].as_array().expect("items").iter().filter_map(|e| e["action"].as_str()).filter(|a| a.starts_with("rule.")).collect();
    assert_eq!(actions, ["rule.resumed", "rule.paused", "rule.created"]);
}

#[tokio::test]
async fn a_deleted_rule_is_404_and_unlisted_but_its_versions_and_firings_stay() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let rule_id = id(&create_rule(&app, &owner, rule_doc("gone")).await);
    let kept_id = id(&create_rule(&app, &owner, rule_doc("kept")).await);
    call(&app, &owner, Method::PUT, &format!("/v1/rules/{rule_id}"), Some(rule_doc("gone 2"))).await;
    let db = app.db.superuser().await.expect("superuser");
    let tenant: uuid::Uuid = owner.tenant_id.parse().expect("tenant");
    let rule: uuid::Uuid = rule_id.parse().expect("rule id");
    insert_firing(&db, tenant, rule, 1, "e-1", 0).await;

    let (status, _) = call(&app, &owner, Method::DELETE, &format!("/v1/rules/{rule_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for path in ["", "/versions", "/versions/1", "/firings"] {
        let response = app.call(Method::GET, &format!("/v1/rules/{rule_id}{path}"), Some(&owner.access_token), None).await;
        assert_problem(response, StatusCode::NOT_FOUND, "not-found").await;
    }
    for (method, path) in [(Method::DELETE, ""), (Method::POST, "/pause"), (Method::POST, "/resume")] {
        let response = app.call(method, &format!("/v1/rules/{rule_id}{path}"), Some(&owner.access_token), None).await;
        assert_problem(response, StatusCode::NOT_FOUND, "not-found").await;
    }
    let response = app.call(Method::PUT, &format!("/v1/rules/{rule_id}"), Some(&owner.access_token), Some(rule_doc("back"))).await;
    assert_problem(response, StatusCode::NOT_FOUND, "not-found").await;
    let (_, list) = call(&app, &owner, Method::GET, "/v1/rules", None).await;
    let listed: Vec<&str> = list["items"].as_array().expect("items").iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(listed, [kept_id.as_str()]);

    let versions: i64 =
        db.query_one("SELECT count(*) FROM rule_versions WHERE rule_id = $1", &[&rule]).await.expect("count").try_get(0).expect("n");
    let firings: i64 =
        db.query_one("SELECT count(*) FROM rule_firings WHERE rule_id = $1", &[&rule]).await.expect("count").try_get(0).expect("n");
    let deleted: bool =
        db.query_one("SELECT deleted_at IS NOT NULL FROM rules WHERE id = $1", &[&rule]).await.expect("row").try_get(0).expect("deleted");
    assert_eq!((versions, firings, deleted), (2, 1, true));
}

/// A firing as the rules group records it.
pub async fn insert_firing(db: &tokio_postgres::Client, tenant: uuid::Uuid, rule: uuid::Uuid, version: i32, event_id: &str, seconds: i64) {
    let at = chrono::DateTime::from_timestamp(1_767_225_600 + seconds, 0).expect("time");
    db.execute(
        "INSERT INTO rule_firings (tenant_id, rule_id, version, event_id, event_type, received_at, outcome, reason, produced, kafka_partition, kafka_offset) \
         VALUES ($1, $2, $3, $4, 'payment.failed', $5, 'fired', NULL, '[{\"index\": 0}]'::jsonb, 0, $6)",
        &[&tenant, &rule, &version, &event_id, &at, &seconds],
    )
    .await
    .expect("firing");
}

#[tokio::test]
async fn rules_versions_and_firings_come_in_stable_pages() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(id(&create_rule(&app, &owner, rule_doc(&format!("rule {i}"))).await));
    }
    let pages = |first: String| {
        let app = &app;
        let owner = &owner;
        async move {
            let mut seen = Vec::new();
            let mut path = first.clone();
            loop {
                let (status, page) = call(app, owner, Method::GET, &path, None).await;
                assert_eq!(status, StatusCode::OK, "{page}");
                seen.extend(page["items"].as_array().expect("items").iter().cloned());
                match page["next_cursor"].as_str() {
                    Some(cursor) => path = format!("{first}&cursor={cursor}"),
                    None => break seen,
                }
            }
        }
    };
    let listed: Vec<String> = pages("/v1/rules?limit=2".to_owned()).await.iter().map(id).collect();
    created.reverse();
    assert_eq!(listed, created, "newest first, each once");

    let rule_id = created[0].clone();
    for i in 0..4 {
        call(&app, &owner, Method::PUT, &format!("/v1/rules/{rule_id}"), Some(rule_doc(&format!("v{}", i + 2)))).await;
    }
    let versions: Vec<u64> =
        pages(format!("/v1/rules/{rule_id}/versions?limit=2")).await.iter().filter_map(|v| v["version"].as_u64()).collect();
    assert_eq!(versions, [5, 4, 3, 2, 1]);

    let db = app.db.superuser().await.expect("superuser");
    let tenant: uuid::Uuid = owner.tenant_id.parse().expect("tenant");
    let rule: uuid::Uuid = rule_id.parse().expect("rule");
    let other: uuid::Uuid = created[1].parse().expect("rule");
    // Two versions deciding on the same event, and ties on received_at.
    for (version, event, seconds) in [(1, "e1", 10), (2, "e1", 10), (1, "e2", 10), (1, "e3", 20), (2, "e4", 5)] {
        insert_firing(&db, tenant, rule, version, event, seconds).await;
    }
    insert_firing(&db, tenant, other, 1, "e9", 30).await;
    let firings: Vec<(String, u64)> = pages(format!("/v1/rules/{rule_id}/firings?limit=2"))
        .await
        .iter()
        .map(|f| (f["event_id"].as_str().expect("event").to_owned(), f["version"].as_u64().expect("version")))
        .collect();
    let expected: Vec<(String, u64)> =
        [("e3", 1), ("e2", 1), ("e1", 2), ("e1", 1), ("e4", 2)].iter().map(|(e, v)| ((*e).to_owned(), *v)).collect();
    assert_eq!(firings, expected);
    let response = app.call(Method::GET, &format!("/v1/rules/{rule_id}/firings?cursor=bm9wZQ"), Some(&owner.access_token), None).await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed").await;
}

#[tokio::test]
async fn every_change_is_audited_and_staged_as_a_system_event() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let rule_id = id(&create_rule(&app, &owner, rule_doc("audited")).await);
    for (method, path, body) in [
        (Method::PUT, String::new(), Some(rule_doc("audited 2"))),
        (Method::POST, "/pause".to_owned(), None),
        (Method::POST, "/resume".to_owned(), None),
        (Method::DELETE, String::new(), None),
    ] {
        let (status, answer) = call(&app, &owner, method, &format!("/v1/rules/{rule_id}{path}"), body).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
    }
    let (_, log) = call(&app, &owner, Method::GET, "/v1/audit-log?limit=200", None).await;
    let entries: Vec<(&str, &str)> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("rule.")))
        .map(|e| (e["action"].as_str().unwrap_or(""), e["target"].as_str().unwrap_or("")))
        .collect();
    let target = format!("rule/{rule_id}");
    let expected: Vec<(&str, &str)> =
        ["rule.deleted", "rule.resumed", "rule.paused", "rule.updated", "rule.created"].iter().map(|a| (*a, target.as_str())).collect();
    assert_eq!(entries, expected);

    let wanted: HashSet<&str> =
        ["signalops.rule.created", "signalops.rule.updated", "signalops.rule.paused", "signalops.rule.resumed", "signalops.rule.deleted"]
            .into();
    let events = eventually(Duration::from_secs(15), || async {
        let events: Vec<signalops_proto::Event> =
            app.system_events().into_iter().filter(|e| e.r#type.starts_with("signalops.rule.") && e.subject == target).collect();
        let seen: HashSet<&str> = events.iter().map(|e| e.r#type.as_str()).collect();
        (seen == wanted).then_some(events)
    })
    .await
    .expect("every change's system event is appended");
    let updated = events.iter().find(|e| e.r#type == "signalops.rule.updated").expect("updated");
    let data: Value = serde_json::from_slice(&updated.data).expect("data");
    assert_eq!((data["rule_id"].as_str(), data["version"].as_u64()), (Some(rule_id.as_str()), Some(2)));
    assert_eq!(updated.tenant_id, owner.tenant_id);
}

#[tokio::test]
async fn bad_rule_documents_are_422_naming_every_problem_by_pointer() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let rule_id = id(&create_rule(&app, &owner, rule_doc("valid")).await);
    let mut bad = rule_doc("bad");
    bad["when"] = json!({"all": [
        {"path": "/data/amount", "op": "bogus", "value": 1},
        {"path": "/data/email", "op": "matches", "value": "(unclosed"},
        {"path": "/data/amount", "op": "gte", "value": "a lot"}
    ]});
    bad["actions"][0]["notify"]["body"] = json!("{{ event.data.customer ");
    bad["colour"] = json!("blue");
    for (method, path) in [(Method::POST, "/v1/rules".to_owned()), (Method::PUT, format!("/v1/rules/{rule_id}"))] {
        let body = assert_problem(
            app.call(method.clone(), &path, Some(&owner.access_token), Some(bad.clone())).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
        )
        .await;
        let fields: HashSet<&str> = body["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
        for field in ["/when/all/0/op", "/when/all/1/value", "/when/all/2/value", "/actions/0/notify/body", "/colour"] {
            assert!(fields.contains(field), "{method} {path}: {field} not named in {body}");
        }
    }
    // Nothing was saved: still one rule at version 1.
    let (_, list) = call(&app, &owner, Method::GET, "/v1/rules", None).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["items"][0]["current_version"], 1);
}

#[tokio::test]
async fn ids_that_cannot_be_rules_are_4xx_problems_never_500() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let rule_id = id(&create_rule(&app, &owner, rule_doc("r")).await);
    let cases = [
        (Method::GET, "/v1/rules/not-a-uuid".to_owned(), StatusCode::BAD_REQUEST),
        (Method::GET, "/v1/rules/%00".to_owned(), StatusCode::BAD_REQUEST),
        (Method::DELETE, "/v1/rules/12345".to_owned(), StatusCode::BAD_REQUEST),
        (Method::POST, "/v1/rules/a%00b/pause".to_owned(), StatusCode::BAD_REQUEST),
        (Method::GET, format!("/v1/rules/{rule_id}/versions/-1"), StatusCode::BAD_REQUEST),
        (Method::GET, format!("/v1/rules/{rule_id}/versions/99999999999"), StatusCode::BAD_REQUEST),
        (Method::GET, format!("/v1/rules/{rule_id}/versions/one"), StatusCode::BAD_REQUEST),
        (Method::GET, format!("/v1/rules/{}", uuid::Uuid::now_v7()), StatusCode::NOT_FOUND),
        (Method::GET, format!("/v1/rules/{}/firings", uuid::Uuid::nil()), StatusCode::NOT_FOUND),
    ];
    for (method, path, expected) in cases {
        let (status, body) = status_and_json(app.call(method.clone(), &path, Some(&owner.access_token), None).await).await;
        assert_eq!(status, expected, "{method} {path}: {body}");
        assert!(body["type"].as_str().is_some_and(|t| t.starts_with("https://signalops.dev/problems/")), "{method} {path}: {body}");
    }
}

#[tokio::test]
async fn the_rule_schema_is_served_as_the_file_in_the_repository() {
    let app = spawn_app().await;
    let response = app.call(Method::GET, "/v1/rules/schema", None, None).await;
    assert_eq!(response.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/schema+json"));
    let (status, schema) = status_and_json(response).await;
    assert_eq!(status, StatusCode::OK);
    let file: Value = serde_json::from_str(include_str!("../../../../schemas/rules/rule.schema.json")).expect("schema file");
    assert_eq!(schema, file);
}

#[tokio::test]
async fn concurrent_updates_each_get_their_own_version() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let rule_id = id(&create_rule(&app, &owner, rule_doc("v1")).await);
    let path = format!("/v1/rules/{rule_id}");
    let updates = (0..8).map(|i| call(&app, &owner, Method::PUT, &path, Some(rule_doc(&format!("concurrent {i}")))));
    let answers = futures::future::join_all(updates).await;
    let mut versions: Vec<u64> = answers
        .iter()
        .map(|(status, rule)| {
            assert_eq!(*status, StatusCode::OK, "{rule}");
            rule["current_version"].as_u64().expect("version")
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (2..=9).collect::<Vec<u64>>());
    let (_, rule) = call(&app, &owner, Method::GET, &path, None).await;
    assert_eq!(rule["current_version"], 9);
}
