//! Table-driven: every role against every tenant endpoint gets exactly the
//! access in the permission matrix (roles::allows, docs/permissions.md), and
//! another tenant's credentials on this tenant's objects get 404.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use signalops_gateway::roles::{Permission, Role, allows};

use crate::helpers::{Person, TestApp, spawn_app, status_and_json, unique_email};
use crate::rules::rule_doc;

/// Objects an endpoint acts on, created fresh by the owner for each call so
/// that one call's change cannot affect the next.
struct Targets {
    member_id: String,
    invitation_id: String,
    api_key_id: String,
    rule_id: String,
    /// A webhook channel (its id unique, so no other tenant has one by it).
    channel_id: String,
}

async fn fresh_targets(app: &TestApp, owner: &Person) -> Targets {
    let member = app.add_member(&owner.tenant_id, "member").await;
    let (status, invitation) = status_and_json(
        app.call(
            Method::POST,
            "/v1/invitations",
            Some(&owner.access_token),
            Some(json!({"email": unique_email("invitee"), "role": "viewer"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{invitation}");
    let (status, key) =
        status_and_json(app.call(Method::POST, "/v1/api-keys", Some(&owner.access_token), Some(json!({"scopes": ["events:read"]}))).await)
            .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let rule = crate::rules::create_rule(app, owner, crate::rules::rule_doc("target")).await;
    let channel =
        crate::channels::create_channel(app, owner, crate::channels::webhook(&format!("t-{}", uuid::Uuid::new_v4().simple()))).await;
    let id = |v: &Value| v["id"].as_str().expect("id").to_owned();
    Targets {
        member_id: member.user_id,
        invitation_id: id(&invitation),
        api_key_id: id(&key),
        rule_id: id(&rule),
        channel_id: id(&channel),
    }
}

/// (method, path, body, permission, success status)
fn endpoints(t: &Targets) -> Vec<(Method, String, Option<Value>, Permission, StatusCode)> {
    vec![
        (Method::GET, "/v1/tenant".into(), None, Permission::ReadTenant, StatusCode::OK),
        (Method::GET, "/v1/members".into(), None, Permission::ReadMembers, StatusCode::OK),
        (Method::PATCH, format!("/v1/members/{}", t.member_id), Some(json!({"role": "viewer"})), Permission::ManageMembers, StatusCode::OK),
        (Method::DELETE, format!("/v1/members/{}", t.member_id), None, Permission::ManageMembers, StatusCode::NO_CONTENT),
        (Method::GET, "/v1/invitations".into(), None, Permission::ReadInvitations, StatusCode::OK),
        (Method::GET, format!("/v1/invitations/{}", t.invitation_id), None, Permission::ReadInvitations, StatusCode::OK),
        (
            Method::POST,
            "/v1/invitations".into(),
            Some(json!({"email": unique_email("new"), "role": "member"})),
            Permission::ManageInvitations,
            StatusCode::CREATED,
        ),
        (Method::POST, format!("/v1/invitations/{}/revoke", t.invitation_id), None, Permission::ManageInvitations, StatusCode::OK),
        (Method::GET, "/v1/api-keys".into(), None, Permission::ReadApiKeys, StatusCode::OK),
        (Method::POST, "/v1/api-keys".into(), Some(json!({"scopes": ["events:read"]})), Permission::ManageApiKeys, StatusCode::CREATED),
        (Method::DELETE, format!("/v1/api-keys/{}", t.api_key_id), None, Permission::ManageApiKeys, StatusCode::NO_CONTENT),
        (Method::GET, "/v1/audit-log".into(), None, Permission::ReadAuditLog, StatusCode::OK),
        (Method::GET, "/v1/event-schemas".into(), None, Permission::ReadEvents, StatusCode::OK),
        (
            Method::PUT,
            format!("/v1/event-schemas/type.{}", uuid::Uuid::new_v4().simple()),
            Some(json!({"schema": {"type": "object"}})),
            Permission::ManageEventSchemas,
            StatusCode::OK,
        ),
        (Method::GET, "/v1/channels".into(), None, Permission::ReadChannels, StatusCode::OK),
        (
            Method::POST,
            "/v1/channels".into(),
            Some(crate::channels::webhook(&format!("n-{}", uuid::Uuid::new_v4().simple()))),
            Permission::ManageChannels,
            StatusCode::CREATED,
        ),
        (Method::GET, format!("/v1/channels/{}", t.channel_id), None, Permission::ReadChannels, StatusCode::OK),
        (
            Method::PATCH,
            format!("/v1/channels/{}", t.channel_id),
            Some(json!({"name": "renamed"})),
            Permission::ManageChannels,
            StatusCode::OK,
        ),
        (Method::POST, format!("/v1/channels/{}/rotate-secret", t.channel_id), None, Permission::ManageChannels, StatusCode::OK),
        (Method::POST, format!("/v1/channels/{}/enable", t.channel_id), None, Permission::ManageChannels, StatusCode::OK),
        (Method::DELETE, format!("/v1/channels/{}", t.channel_id), None, Permission::ManageChannels, StatusCode::NO_CONTENT),
        (Method::GET, "/v1/rules".into(), None, Permission::ReadRules, StatusCode::OK),
        (Method::POST, "/v1/rules".into(), Some(rule_doc("new")), Permission::ManageRules, StatusCode::CREATED),
        (Method::GET, format!("/v1/rules/{}", t.rule_id), None, Permission::ReadRules, StatusCode::OK),
        (Method::PUT, format!("/v1/rules/{}", t.rule_id), Some(rule_doc("changed")), Permission::ManageRules, StatusCode::OK),
        (Method::POST, format!("/v1/rules/{}/pause", t.rule_id), None, Permission::ManageRules, StatusCode::OK),
        (Method::POST, format!("/v1/rules/{}/resume", t.rule_id), None, Permission::ManageRules, StatusCode::OK),
        (Method::DELETE, format!("/v1/rules/{}", t.rule_id), None, Permission::ManageRules, StatusCode::NO_CONTENT),
        (Method::GET, format!("/v1/rules/{}/versions", t.rule_id), None, Permission::ReadRules, StatusCode::OK),
        (Method::GET, format!("/v1/rules/{}/versions/1", t.rule_id), None, Permission::ReadRules, StatusCode::OK),
        (Method::GET, format!("/v1/rules/{}/firings", t.rule_id), None, Permission::ReadRules, StatusCode::OK),
        (
            Method::POST,
            "/v1/rules/test".into(),
            Some(json!({"rule_id": t.rule_id, "events": [{"type": "payment.failed", "data": {"currency": "EUR"}}]})),
            Permission::ReadRules,
            StatusCode::OK,
        ),
        (
            Method::POST,
            format!("/v1/rules/{}/backtest", t.rule_id),
            Some(json!({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"})),
            Permission::ReadRules,
            StatusCode::OK,
        ),
    ]
}

#[tokio::test]
async fn each_role_gets_exactly_the_access_in_the_matrix() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let mut failures = Vec::new();
    for role in Role::ALL {
        let caller = if role == Role::Owner { owner.clone() } else { app.add_member(&owner.tenant_id, role.as_str()).await };
        let count = endpoints(&fresh_targets(&app, &owner).await).len();
        for index in 0..count {
            // Fresh objects per call: a DELETE must not break the next PATCH.
            let targets = fresh_targets(&app, &owner).await;
            let (method, path, body, permission, success) = endpoints(&targets).swap_remove(index);
            let expected = if allows(role, permission) { success } else { StatusCode::FORBIDDEN };
            let (status, response) = status_and_json(app.call(method.clone(), &path, Some(&caller.access_token), body).await).await;
            if status != expected {
                failures.push(format!("{role} {method} {path}: expected {expected}, got {status} {response}"));
            }
        }
    }
    assert!(failures.is_empty(), "matrix violations:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn another_tenants_credentials_on_this_tenants_objects_get_404() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let intruder = app.signup(&unique_email("intruder"), "other").await;
    let targets = fresh_targets(&app, &owner).await;
    let mut failures = Vec::new();
    for (method, path, body, _, _) in endpoints(&targets) {
        // Only endpoints that name an object of the first tenant (in the path or the body).
        let names = |id: &str| path.contains(id) || body.as_ref().is_some_and(|b| b.to_string().contains(id));
        if ![&targets.member_id, &targets.invitation_id, &targets.api_key_id, &targets.rule_id, &targets.channel_id]
            .iter()
            .any(|id| names(id))
        {
            continue;
        }
        let (status, response) = status_and_json(app.call(method.clone(), &path, Some(&intruder.access_token), body).await).await;
        if status != StatusCode::NOT_FOUND {
            failures.push(format!("{method} {path}: expected 404, got {status} {response}"));
        }
        assert!(!response.to_string().contains(&owner.tenant_id), "no foreign tenant id leaks: {response}");
    }
    assert!(failures.is_empty(), "cross-tenant violations:\n{}", failures.join("\n"));
    // Lists are the tenant's own: the intruder's lists name none of the first tenant's objects.
    for list in ["/v1/rules", "/v1/members", "/v1/invitations", "/v1/api-keys", "/v1/channels"] {
        let (status, response) = status_and_json(app.call(Method::GET, list, Some(&intruder.access_token), None).await).await;
        assert_eq!(status, StatusCode::OK, "{list}: {response}");
        let text = response.to_string();
        for id in [&targets.member_id, &targets.invitation_id, &targets.api_key_id, &targets.rule_id, &targets.channel_id, &owner.tenant_id]
        {
            assert!(!text.contains(id.as_str()), "{list} of another tenant shows {id}: {response}");
        }
    }
    // And the objects are untouched: the owner still sees them.
    let (status, _) = status_and_json(
        app.call(Method::GET, &format!("/v1/invitations/{}", targets.invitation_id), Some(&owner.access_token), None).await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
