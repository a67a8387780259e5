//! Members over HTTP against the real stack: listing with pagination, role
//! changes, the owner rules (including two concurrent demotions), removal
//! and leaving, and another tenant's people being invisible.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use signalops_testkit::eventually;

use crate::helpers::{Person, TestApp, assert_problem, spawn_app, status_and_json, unique_email};

async fn patch_role(app: &TestApp, caller: &Person, user_id: &str, role: &str) -> reqwest::Response {
    app.call(Method::PATCH, &format!("/v1/members/{user_id}"), Some(&caller.access_token), Some(json!({"role": role}))).await
}

async fn remove(app: &TestApp, caller: &Person, user_id: &str) -> reqwest::Response {
    app.call(Method::DELETE, &format!("/v1/members/{user_id}"), Some(&caller.access_token), None).await
}

/// Every member of the caller's tenant, following `next_cursor` with `limit`.
async fn all_members(app: &TestApp, caller: &Person, limit: u32) -> (Vec<Value>, usize) {
    let (mut members, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/members?limit={limit}&cursor={cursor}"),
            None => format!("/v1/members?limit={limit}"),
        };
        let (status, page) = status_and_json(app.call(Method::GET, &path, Some(&caller.access_token), None).await).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        members.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (members, pages),
        }
    }
}

async fn role_of(app: &TestApp, caller: &Person, user_id: &str) -> Option<String> {
    let (members, _) = all_members(app, caller, 200).await;
    members.iter().find(|m| m["user_id"] == user_id).and_then(|m| m["role"].as_str().map(str::to_owned))
}

async fn audit_actions(app: &TestApp, caller: &Person) -> Vec<Value> {
    let (status, log) = status_and_json(app.call(Method::GET, "/v1/audit-log?limit=200", Some(&caller.access_token), None).await).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    log["items"].as_array().cloned().unwrap_or_default()
}

async fn owner_count(app: &TestApp, tenant_id: &str) -> i64 {
    let db = app.db.superuser().await.expect("superuser");
    let tenant: uuid::Uuid = tenant_id.parse().expect("tenant id");
    db.query_one("SELECT count(*) FROM memberships WHERE tenant_id = $1 AND role = 'owner'", &[&tenant]).await.expect("count").get(0)
}

#[tokio::test]
async fn members_are_listed_in_join_order_without_gaps_or_duplicates_across_pages() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let mut expected = vec![owner.user_id.clone()];
    for role in ["admin", "member", "viewer", "member"] {
        expected.push(app.add_member(&owner.tenant_id, role).await.user_id);
    }
    let viewer = app.add_member(&owner.tenant_id, "viewer").await;
    expected.push(viewer.user_id.clone());

    let (members, pages) = all_members(&app, &viewer, 1).await;
    let ids: Vec<String> = members.iter().map(|m| m["user_id"].as_str().expect("user_id").to_owned()).collect();
    assert_eq!(ids, expected, "every member once, in join order");
    assert_eq!(pages, expected.len(), "one member per page, and no empty trailing page");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "no duplicates");
    let first = &members[0];
    assert_eq!(first["email"], json!(owner.email));
    assert_eq!(first["role"], "owner");
    assert!(first["joined_at"].as_str().is_some(), "{first}");

    let (all_at_once, pages) = all_members(&app, &viewer, 200).await;
    assert_eq!((all_at_once.len(), pages), (expected.len(), 1));
}

#[tokio::test]
async fn a_role_change_is_applied_audited_and_emitted() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let member = app.add_member(&owner.tenant_id, "member").await;

    let (status, changed) = status_and_json(patch_role(&app, &owner, &member.user_id, "admin").await).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["role"], "admin");
    assert_eq!(changed["email"], json!(member.email));
    assert_eq!(role_of(&app, &owner, &member.user_id).await.as_deref(), Some("admin"));
    // The new role takes effect at once: admins may read the audit log.
    let log = audit_actions(&app, &member).await;
    let entry = log.iter().find(|e| e["action"] == "member.role_changed").expect("member.role_changed audited");
    assert_eq!(entry["details"], json!({"from": "member", "to": "admin"}));
    assert_eq!(entry["actor"], format!("user:{}", owner.user_id));
    assert_eq!(entry["target"], format!("user/{}", member.user_id));

    let event = eventually(Duration::from_secs(10), || async {
        app.system_events().into_iter().find(|e| e.r#type == "signalops.member.role_changed")
    })
    .await
    .expect("signalops.member.role_changed on the events topic");
    assert_eq!(event.tenant_id, owner.tenant_id);
    let data: Value = serde_json::from_slice(&event.data).expect("json");
    assert_eq!(
        (data["user_id"].as_str(), data["from"].as_str(), data["to"].as_str()),
        (Some(member.user_id.as_str()), Some("member"), Some("admin"))
    );

    // Unknown roles are a validation error naming the field.
    let problem =
        assert_problem(patch_role(&app, &owner, &member.user_id, "root").await, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed")
            .await;
    assert_eq!(problem["errors"][0]["field"], "role", "{problem}");
}

#[tokio::test]
async fn only_owners_grant_change_or_remove_the_owner_role() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let admin = app.add_member(&owner.tenant_id, "admin").await;
    let member = app.add_member(&owner.tenant_id, "member").await;

    assert_problem(patch_role(&app, &admin, &member.user_id, "owner").await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_problem(patch_role(&app, &admin, &admin.user_id, "owner").await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_problem(patch_role(&app, &admin, &owner.user_id, "admin").await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_problem(remove(&app, &admin, &owner.user_id).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(role_of(&app, &owner, &owner.user_id).await.as_deref(), Some("owner"), "nothing changed");
    assert_eq!(role_of(&app, &owner, &member.user_id).await.as_deref(), Some("member"));

    // Admins manage everyone else; members and viewers manage no one.
    assert_eq!(patch_role(&app, &admin, &member.user_id, "viewer").await.status(), StatusCode::OK);
    assert_problem(patch_role(&app, &member, &admin.user_id, "viewer").await, StatusCode::FORBIDDEN, "forbidden").await;
    // An owner may make an owner, and then demote an owner.
    assert_eq!(patch_role(&app, &owner, &admin.user_id, "owner").await.status(), StatusCode::OK);
    assert_eq!(patch_role(&app, &owner, &admin.user_id, "admin").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_last_owner_can_never_be_demoted_or_removed() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let admin = app.add_member(&owner.tenant_id, "admin").await;

    let problem = assert_problem(patch_role(&app, &owner, &owner.user_id, "admin").await, StatusCode::CONFLICT, "conflict").await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("last owner")), "{problem}");
    let problem = assert_problem(remove(&app, &owner, &owner.user_id).await, StatusCode::CONFLICT, "conflict").await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("last owner")), "{problem}");
    assert_eq!(owner_count(&app, &owner.tenant_id).await, 1);

    // With a second owner, the first may step down.
    assert_eq!(patch_role(&app, &owner, &admin.user_id, "owner").await.status(), StatusCode::OK);
    let (status, body) = status_and_json(patch_role(&app, &owner, &owner.user_id, "member").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(owner_count(&app, &owner.tenant_id).await, 1);
}

#[tokio::test]
async fn two_owners_stepping_down_at_once_leave_one_owner() {
    let app = spawn_app().await;
    let first = app.signup(&unique_email("owner"), "acme").await;
    let second = app.add_member(&first.tenant_id, "owner").await;
    for _ in 0..5 {
        let (a, b) = tokio::join!(patch_role(&app, &first, &first.user_id, "admin"), patch_role(&app, &second, &second.user_id, "admin"));
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "exactly one may step down");
        assert_eq!(owner_count(&app, &first.tenant_id).await, 1, "one owner remains");
        // Restore two owners for the next round (whoever is still owner promotes the other).
        let (owner, other) =
            if role_of(&app, &first, &first.user_id).await.as_deref() == Some("owner") { (&first, &second) } else { (&second, &first) };
        assert_eq!(patch_role(&app, owner, &other.user_id, "owner").await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn a_removed_member_loses_access_at_once_and_the_removal_is_recorded() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let member = app.add_member(&owner.tenant_id, "member").await;
    assert_eq!(app.call(Method::GET, "/v1/tenant", Some(&member.access_token), None).await.status(), StatusCode::OK);

    let response = remove(&app, &owner, &member.user_id).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(app.call(Method::GET, "/v1/tenant", Some(&member.access_token), None).await, StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    assert_eq!(role_of(&app, &owner, &member.user_id).await, None);
    assert_problem(remove(&app, &owner, &member.user_id).await, StatusCode::NOT_FOUND, "not-found").await;
    // Their refresh token cannot mint new access for this tenant either.
    let (status, _) =
        status_and_json(app.call(Method::POST, "/v1/auth/refresh", None, Some(json!({"refresh_token": member.refresh_token}))).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let log = audit_actions(&app, &owner).await;
    let entry = log.iter().find(|e| e["action"] == "member.removed").expect("member.removed audited");
    assert_eq!(entry["target"], format!("user/{}", member.user_id));
    assert_eq!(entry["details"]["role"], "member");
    let event =
        eventually(Duration::from_secs(10), || async { app.system_events().into_iter().find(|e| e.r#type == "signalops.member.removed") })
            .await
            .expect("signalops.member.removed on the events topic");
    let data: Value = serde_json::from_slice(&event.data).expect("json");
    assert_eq!(data["user_id"], json!(member.user_id));
}

#[tokio::test]
async fn anyone_may_leave_but_only_managers_remove_others() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let viewer = app.add_member(&owner.tenant_id, "viewer").await;
    let member = app.add_member(&owner.tenant_id, "member").await;
    let admin = app.add_member(&owner.tenant_id, "admin").await;

    assert_problem(remove(&app, &viewer, &member.user_id).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_problem(remove(&app, &member, &viewer.user_id).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(remove(&app, &viewer, &viewer.user_id).await.status(), StatusCode::NO_CONTENT, "a viewer leaves");
    assert_eq!(remove(&app, &admin, &member.user_id).await.status(), StatusCode::NO_CONTENT, "an admin removes a member");
    assert_eq!(remove(&app, &admin, &admin.user_id).await.status(), StatusCode::NO_CONTENT, "an admin leaves");
    let (members, _) = all_members(&app, &owner, 200).await;
    assert_eq!(members.len(), 1, "only the owner is left: {members:?}");
    let log = audit_actions(&app, &owner).await;
    assert!(log.iter().any(|e| e["action"] == "member.removed" && e["details"]["left"] == true), "leaving is recorded as such");
}

#[tokio::test]
async fn another_tenants_members_answer_404() {
    let app = spawn_app().await;
    let tenant_a = app.signup(&unique_email("owner-a"), "a").await;
    let tenant_b = app.signup(&unique_email("owner-b"), "b").await;
    let member_b = app.add_member(&tenant_b.tenant_id, "member").await;

    for target in [&member_b.user_id, &tenant_b.user_id] {
        let body = assert_problem(patch_role(&app, &tenant_a, target, "viewer").await, StatusCode::NOT_FOUND, "not-found").await;
        assert!(!body.to_string().contains(&tenant_b.tenant_id), "{body}");
        assert_problem(remove(&app, &tenant_a, target).await, StatusCode::NOT_FOUND, "not-found").await;
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_problem(patch_role(&app, &tenant_a, &unknown, "viewer").await, StatusCode::NOT_FOUND, "not-found").await;
    assert_problem(remove(&app, &tenant_a, &unknown).await, StatusCode::NOT_FOUND, "not-found").await;
    let (members, _) = all_members(&app, &tenant_a, 200).await;
    assert_eq!(members.len(), 1, "B's people never appear in A's list");
    assert_eq!(role_of(&app, &tenant_b, &member_b.user_id).await.as_deref(), Some("member"), "B's member untouched");
}
