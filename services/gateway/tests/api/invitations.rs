//! Invitations over HTTP against the real stack: every allowed transition
//! (pending → accepted | declined | revoked | expired), every forbidden one,
//! accepting as a new or an existing person, two concurrent accepts, one
//! pending invitation per email, who may invite, another tenant's
//! invitations, and the audit entries and system events of each transition.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use signalops_testkit::eventually;

use crate::helpers::{PASSWORD, Person, TestApp, assert_problem, spawn_app, status_and_json, unique_email};

/// A password that passes the policy, different from the helpers' one.
const NEW_PASSWORD: &str = "amber-quarry-willow-77";

async fn invite_response(app: &TestApp, caller: &Person, email: &str, role: &str) -> Response {
    app.call(Method::POST, "/v1/invitations", Some(&caller.access_token), Some(json!({"email": email, "role": role}))).await
}

/// Creates an invitation (asserting 201) and returns its body with the token.
async fn invite(app: &TestApp, caller: &Person, email: &str, role: &str) -> Value {
    let (status, body) = status_and_json(invite_response(app, caller, email, role).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_else(|| panic!("{key} missing in {value}")).to_owned()
}

async fn accept(app: &TestApp, token: &str, password: Option<&str>) -> Response {
    let mut body = json!({"token": token});
    if let Some(password) = password {
        body["password"] = json!(password);
    }
    app.call(Method::POST, "/v1/invitations/accept", None, Some(body)).await
}

async fn decline(app: &TestApp, token: &str) -> Response {
    app.call(Method::POST, "/v1/invitations/decline", None, Some(json!({"token": token}))).await
}

async fn revoke(app: &TestApp, caller: &Person, id: &str) -> Response {
    app.call(Method::POST, &format!("/v1/invitations/{id}/revoke"), Some(&caller.access_token), None).await
}

async fn get(app: &TestApp, caller: &Person, id: &str) -> Value {
    let (status, body) =
        status_and_json(app.call(Method::GET, &format!("/v1/invitations/{id}"), Some(&caller.access_token), None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The state as stored, read past RLS (the API may report an overdue
/// pending invitation as expired before it is recorded).
async fn stored_state(app: &TestApp, id: &str) -> String {
    let db = app.db.superuser().await.expect("superuser");
    let id: uuid::Uuid = id.parse().expect("id");
    db.query_one("SELECT state FROM invitations WHERE id = $1", &[&id]).await.expect("row").get(0)
}

/// Moves an invitation's expiry into the past.
async fn make_overdue(app: &TestApp, id: &str) {
    let db = app.db.superuser().await.expect("superuser");
    let id: uuid::Uuid = id.parse().expect("id");
    db.execute("UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE id = $1", &[&id]).await.expect("update");
}

async fn count(app: &TestApp, sql: &str, email: &str) -> i64 {
    let db = app.db.superuser().await.expect("superuser");
    db.query_one(sql, &[&email]).await.expect("count").get(0)
}

async fn memberships_of(app: &TestApp, email: &str) -> i64 {
    count(app, "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = $1", email).await
}

async fn users_with(app: &TestApp, email: &str) -> i64 {
    count(app, "SELECT count(*) FROM users WHERE email = $1", email).await
}

async fn audit_log(app: &TestApp, caller: &Person) -> Vec<Value> {
    let (status, log) = status_and_json(app.call(Method::GET, "/v1/audit-log?limit=200", Some(&caller.access_token), None).await).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    log["items"].as_array().cloned().unwrap_or_default()
}

async fn login_status(app: &TestApp, email: &str, password: &str, tenant_id: &str) -> (StatusCode, Value) {
    let body = json!({"email": email, "password": password, "tenant_id": tenant_id});
    status_and_json(app.call(Method::POST, "/v1/auth/login", None, Some(body)).await).await
}

// ---------------------------------------------------------------------------
// allowed transitions

#[tokio::test]
async fn an_invitation_shows_its_token_once_and_stores_only_its_hash() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let email = unique_email("invitee");
    let created = invite(&app, &owner, &email, "member").await;
    let token = text(&created, "token");
    assert!(token.starts_with("soi_") && token.len() == 47, "{token}");
    assert_eq!(
        (created["email"].as_str(), created["role"].as_str(), created["state"].as_str()),
        (Some(email.as_str()), Some("member"), Some("pending"))
    );
    let (created_at, expires_at) = (text(&created, "created_at"), text(&created, "expires_at"));
    let ttl = chrono::DateTime::parse_from_rfc3339(&expires_at).expect("rfc3339")
        - chrono::DateTime::parse_from_rfc3339(&created_at).expect("rfc3339");
    assert_eq!(ttl.num_hours(), 7 * 24, "default TTL is auth.invitation_ttl_days (7)");

    let id = text(&created, "id");
    let one = get(&app, &owner, &id).await;
    assert_eq!(one["state"], "pending");
    assert!(one.get("token").is_none() && !one.to_string().contains(&token[4..]), "{one}");
    let (status, list) = status_and_json(app.call(Method::GET, "/v1/invitations", Some(&owner.access_token), None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["id"], json!(id));
    assert!(!list.to_string().contains(&token[4..]), "{list}");

    let db = app.db.superuser().await.expect("superuser");
    let stored: Vec<u8> = db
        .query_one("SELECT token_hash FROM invitations WHERE id = $1", &[&id.parse::<uuid::Uuid>().expect("id")])
        .await
        .expect("row")
        .get(0);
    use sha2::Digest as _;
    assert_eq!(stored, sha2::Sha256::digest(token.as_bytes()).to_vec(), "SHA-256 of the token, not the token");
}

#[tokio::test]
async fn accepting_creates_the_person_and_adds_the_membership() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let email = unique_email("newcomer");
    let created = invite(&app, &owner, &email, "admin").await;

    let (status, accepted) = status_and_json(accept(&app, &text(&created, "token"), Some(NEW_PASSWORD)).await).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["tenant_id"], json!(owner.tenant_id));
    assert_eq!(accepted["role"], "admin");
    let user_id = text(&accepted, "user_id");

    // They sign in with the password they chose and act with the invited role.
    let (status, tokens) = login_status(&app, &email, NEW_PASSWORD, &owner.tenant_id).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (status, tenant) = status_and_json(app.call(Method::GET, "/v1/tenant", Some(&text(&tokens, "access_token")), None).await).await;
    assert_eq!((status, tenant["role"].as_str()), (StatusCode::OK, Some("admin")));

    let invitation = get(&app, &owner, &text(&created, "id")).await;
    assert_eq!(invitation["state"], "accepted");
    assert_eq!(invitation["accepted_user_id"], json!(user_id));
    assert!(invitation["closed_at"].as_str().is_some());
    assert_eq!(memberships_of(&app, &email).await, 1);
}

#[tokio::test]
async fn accepting_as_an_existing_person_takes_their_password() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let elsewhere = app.signup(&unique_email("existing"), "their own").await;
    // Case differs: addresses compare case-insensitively.
    let created = invite(&app, &owner, &elsewhere.email.to_uppercase(), "viewer").await;
    let token = text(&created, "token");

    let problem = assert_problem(accept(&app, &token, None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let wrong = assert_problem(accept(&app, &token, Some("not-their-password-1")).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(problem["detail"], wrong["detail"], "one generic message");
    assert_eq!(memberships_of(&app, &elsewhere.email).await, 1, "no membership yet");
    assert_eq!(stored_state(&app, &text(&created, "id")).await, "pending", "still open after failed attempts");

    let (status, accepted) = status_and_json(accept(&app, &token, Some(PASSWORD)).await).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["user_id"], json!(elsewhere.user_id), "the same person, not a new account");
    assert_eq!(users_with(&app, &elsewhere.email).await, 1);
    assert_eq!(memberships_of(&app, &elsewhere.email).await, 2, "now in both tenants");
    let (status, _) = login_status(&app, &elsewhere.email, PASSWORD, &owner.tenant_id).await;
    assert_eq!(status, StatusCode::OK, "signs in to the new tenant with the old password");
}

#[tokio::test]
async fn password_attempts_on_accept_spend_the_login_budget() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let elsewhere = app.signup(&unique_email("existing"), "their own").await;
    let created = invite(&app, &owner, &elsewhere.email, "viewer").await;
    let token = text(&created, "token");
    let budget = app.config.auth.login_attempts_per_minute_per_email;
    for _ in 0..budget {
        assert_problem(accept(&app, &token, Some("guess-number-one-1")).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // Out of attempts: even the right password waits, and nothing changes.
    assert_problem(accept(&app, &token, Some(PASSWORD)).await, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;
    assert_eq!(stored_state(&app, &text(&created, "id")).await, "pending");
    assert_eq!(memberships_of(&app, &elsewhere.email).await, 1);
}

#[tokio::test]
async fn a_new_person_needs_a_password_that_passes_the_policy() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let email = unique_email("newcomer");
    let token = text(&invite(&app, &owner, &email, "member").await, "token");

    for password in [None, Some("short"), Some("password123")] {
        let problem = assert_problem(accept(&app, &token, password).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "password", "{problem}");
    }
    assert_eq!(users_with(&app, &email).await, 0, "no account from a refused accept");
    assert_eq!(accept(&app, &token, Some(NEW_PASSWORD)).await.status(), StatusCode::OK, "the invitation is still usable");
}

#[tokio::test]
async fn declining_closes_the_invitation() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let email = unique_email("invitee");
    let created = invite(&app, &owner, &email, "member").await;
    let response = decline(&app, &text(&created, "token")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let invitation = get(&app, &owner, &text(&created, "id")).await;
    assert_eq!(invitation["state"], "declined");
    assert!(invitation["closed_at"].as_str().is_some());
    assert_eq!(users_with(&app, &email).await, 0, "declining creates nobody");
}

#[tokio::test]
async fn revoking_closes_the_invitation_and_its_token_stops_working() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let admin = app.add_member(&owner.tenant_id, "admin").await;
    let created = invite(&app, &owner, &unique_email("invitee"), "member").await;
    let (status, revoked) = status_and_json(revoke(&app, &admin, &text(&created, "id")).await).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["state"], "revoked");
    let problem = assert_problem(accept(&app, &text(&created, "token"), Some(NEW_PASSWORD)).await, StatusCode::CONFLICT, "conflict").await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("revoked")), "{problem}");
    assert_problem(revoke(&app, &admin, &text(&created, "id")).await, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn an_overdue_invitation_reads_as_expired_and_acting_on_it_records_the_expiry() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let email = unique_email("late");
    let created = invite(&app, &owner, &email, "member").await;
    let (id, token) = (text(&created, "id"), text(&created, "token"));
    make_overdue(&app, &id).await;

    assert_eq!(get(&app, &owner, &id).await["state"], "expired", "reported expired before anything records it");
    assert_eq!(stored_state(&app, &id).await, "pending");
    let problem = assert_problem(accept(&app, &token, Some(NEW_PASSWORD)).await, StatusCode::GONE, "gone").await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("expired")), "{problem}");
    assert_eq!(stored_state(&app, &id).await, "expired", "the 410 committed the expiry");
    assert_eq!(users_with(&app, &email).await, 0);
    // Once expired, always gone.
    assert_problem(accept(&app, &token, Some(NEW_PASSWORD)).await, StatusCode::GONE, "gone").await;
    assert_problem(decline(&app, &token).await, StatusCode::GONE, "gone").await;
    assert_problem(revoke(&app, &owner, &id).await, StatusCode::GONE, "gone").await;

    // Revoking or declining an overdue one expires it just the same.
    for act in ["revoke", "decline"] {
        let other = invite(&app, &owner, &unique_email(act), "member").await;
        make_overdue(&app, &text(&other, "id")).await;
        let response =
            if act == "revoke" { revoke(&app, &owner, &text(&other, "id")).await } else { decline(&app, &text(&other, "token")).await };
        assert_problem(response, StatusCode::GONE, "gone").await;
        assert_eq!(stored_state(&app, &text(&other, "id")).await, "expired", "{act}");
    }
}

// ---------------------------------------------------------------------------
// forbidden transitions

#[tokio::test]
async fn closed_invitations_refuse_every_further_transition() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let created = invite(&app, &owner, &unique_email("invitee"), "member").await;
    let (id, token) = (text(&created, "id"), text(&created, "token"));
    assert_eq!(accept(&app, &token, Some(NEW_PASSWORD)).await.status(), StatusCode::OK);

    // Accept twice, decline after accept, revoke an accepted one.
    for response in [accept(&app, &token, Some(NEW_PASSWORD)).await, decline(&app, &token).await, revoke(&app, &owner, &id).await] {
        let problem = assert_problem(response, StatusCode::CONFLICT, "conflict").await;
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("already accepted")), "{problem}");
    }
    // Accept or revoke a declined one.
    let declined = invite(&app, &owner, &unique_email("decliner"), "member").await;
    assert_eq!(decline(&app, &text(&declined, "token")).await.status(), StatusCode::NO_CONTENT);
    assert_problem(accept(&app, &text(&declined, "token"), Some(NEW_PASSWORD)).await, StatusCode::CONFLICT, "conflict").await;
    assert_problem(decline(&app, &text(&declined, "token")).await, StatusCode::CONFLICT, "conflict").await;
    assert_problem(revoke(&app, &owner, &text(&declined, "id")).await, StatusCode::CONFLICT, "conflict").await;
    // Decline a revoked one.
    let revoked = invite(&app, &owner, &unique_email("revoked"), "member").await;
    assert_eq!(revoke(&app, &owner, &text(&revoked, "id")).await.status(), StatusCode::OK);
    assert_problem(decline(&app, &text(&revoked, "token")).await, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(stored_state(&app, &id).await, "accepted", "nothing moved");
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_404() {
    let app = spawn_app().await;
    let well_formed = format!("soi_{}", "A".repeat(43));
    for token in [well_formed.as_str(), "soi_short", "not-a-token"] {
        assert_problem(accept(&app, token, Some(NEW_PASSWORD)).await, StatusCode::NOT_FOUND, "not-found").await;
        assert_problem(decline(&app, token).await, StatusCode::NOT_FOUND, "not-found").await;
    }
}

#[tokio::test]
async fn two_concurrent_accepts_produce_exactly_one_membership() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    for round in 0..3 {
        let email = unique_email(&format!("racer{round}"));
        let token = text(&invite(&app, &owner, &email, "member").await, "token");
        let (a, b) = tokio::join!(accept(&app, &token, Some(NEW_PASSWORD)), accept(&app, &token, Some(NEW_PASSWORD)));
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "round {round}");
        assert_eq!(memberships_of(&app, &email).await, 1, "round {round}");
        assert_eq!(users_with(&app, &email).await, 1, "round {round}");
    }
}

#[tokio::test]
async fn a_failure_after_the_account_is_created_leaves_nothing_behind() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let email = unique_email("unlucky");
    let created = invite(&app, &owner, &email, "member").await;
    // Make adding any new membership to this tenant fail, after the account
    // has been inserted in the same transaction.
    let db = app.db.superuser().await.expect("superuser");
    let sql =
        format!("ALTER TABLE memberships ADD CONSTRAINT test_no_new_members CHECK (tenant_id <> '{}'::uuid) NOT VALID", owner.tenant_id);
    db.execute(sql.as_str(), &[]).await.expect("constraint");

    let (status, _) = status_and_json(accept(&app, &text(&created, "token"), Some(NEW_PASSWORD)).await).await;
    assert!(status.is_server_error(), "{status}");
    assert_eq!(users_with(&app, &email).await, 0, "the account was rolled back");
    assert_eq!(stored_state(&app, &text(&created, "id")).await, "pending", "the invitation was not closed");
    assert!(!audit_log(&app, &owner).await.iter().any(|e| e["action"] == "invitation.accepted"));

    db.execute("ALTER TABLE memberships DROP CONSTRAINT test_no_new_members", &[]).await.expect("drop");
    assert_eq!(accept(&app, &text(&created, "token"), Some(NEW_PASSWORD)).await.status(), StatusCode::OK, "and it can be retried");
}

#[tokio::test]
async fn already_a_member_is_a_conflict_and_changes_nothing() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let member = app.add_member(&owner.tenant_id, "member").await;
    assert_problem(invite_response(&app, &owner, &member.email, "admin").await, StatusCode::CONFLICT, "conflict").await;

    // Invited first, then added some other way before accepting.
    let other = app.signup(&unique_email("other"), "other").await;
    let created = invite(&app, &owner, &other.email, "admin").await;
    let db = app.db.superuser().await.expect("superuser");
    let (tenant, user): (uuid::Uuid, uuid::Uuid) = (owner.tenant_id.parse().expect("id"), other.user_id.parse().expect("id"));
    db.execute("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'viewer')", &[&tenant, &user])
        .await
        .expect("membership");
    assert_problem(accept(&app, &text(&created, "token"), Some(PASSWORD)).await, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(stored_state(&app, &text(&created, "id")).await, "pending");
    let role: String =
        db.query_one("SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2", &[&tenant, &user]).await.expect("row").get(0);
    assert_eq!(role, "viewer", "the existing membership is untouched");
}

// ---------------------------------------------------------------------------
// creation rules

#[tokio::test]
async fn one_pending_invitation_per_tenant_and_email() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let other_tenant = app.signup(&unique_email("owner"), "other").await;
    let email = unique_email("invitee");
    let first = invite(&app, &owner, &email, "member").await;
    let problem =
        assert_problem(invite_response(&app, &owner, &email.to_uppercase(), "admin").await, StatusCode::CONFLICT, "conflict").await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("pending invitation")), "{problem}");
    invite(&app, &other_tenant, &email, "member").await; // another tenant may invite the same address

    assert_eq!(revoke(&app, &owner, &text(&first, "id")).await.status(), StatusCode::OK);
    let second = invite(&app, &owner, &email, "member").await;
    // An overdue pending one does not block a new one: it is expired first.
    make_overdue(&app, &text(&second, "id")).await;
    invite(&app, &owner, &email, "member").await;
    assert_eq!(stored_state(&app, &text(&second, "id")).await, "expired");
}

#[tokio::test]
async fn members_and_viewers_cannot_invite_and_only_owners_invite_owners() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let admin = app.add_member(&owner.tenant_id, "admin").await;
    for role in ["member", "viewer"] {
        let person = app.add_member(&owner.tenant_id, role).await;
        assert_problem(invite_response(&app, &person, &unique_email("x"), "viewer").await, StatusCode::FORBIDDEN, "forbidden").await;
        let (status, _) = status_and_json(app.call(Method::GET, "/v1/invitations", Some(&person.access_token), None).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role} cannot list invitations");
    }
    let problem =
        assert_problem(invite_response(&app, &admin, &unique_email("x"), "owner").await, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("owner")), "{problem}");
    invite(&app, &admin, &unique_email("x"), "admin").await;
    let co_owner = invite(&app, &owner, &unique_email("co-owner"), "owner").await;
    let (status, accepted) = status_and_json(accept(&app, &text(&co_owner, "token"), Some(NEW_PASSWORD)).await).await;
    assert_eq!((status, accepted["role"].as_str()), (StatusCode::OK, Some("owner")));

    for bad in ["", "no-at-sign", "two@@example.com"] {
        let problem =
            assert_problem(invite_response(&app, &owner, bad, "member").await, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "email", "{problem}");
    }
}

#[tokio::test]
async fn invitations_are_listed_newest_first_across_pages() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(text(&invite(&app, &owner, &unique_email(&format!("i{n}")), "viewer").await, "id"));
    }
    ids.reverse();
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = cursor.as_ref().map_or("/v1/invitations?limit=1".to_owned(), |c| format!("/v1/invitations?limit=1&cursor={c}"));
        let (status, page) = status_and_json(app.call(Method::GET, &path, Some(&owner.access_token), None).await).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(page["items"].as_array().into_iter().flatten().map(|i| text(i, "id")));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 4);
}

#[tokio::test]
async fn another_tenants_invitations_answer_404() {
    let app = spawn_app().await;
    let owner_a = app.signup(&unique_email("owner-a"), "a").await;
    let owner_b = app.signup(&unique_email("owner-b"), "b").await;
    let admin_a = app.add_member(&owner_a.tenant_id, "admin").await;
    let created = invite(&app, &owner_b, &unique_email("invitee"), "member").await;
    let id = text(&created, "id");

    let path = format!("/v1/invitations/{id}");
    let body =
        assert_problem(app.call(Method::GET, &path, Some(&admin_a.access_token), None).await, StatusCode::NOT_FOUND, "not-found").await;
    assert!(!body.to_string().contains(&owner_b.tenant_id), "{body}");
    assert_problem(revoke(&app, &admin_a, &id).await, StatusCode::NOT_FOUND, "not-found").await;
    let (_, list) = status_and_json(app.call(Method::GET, "/v1/invitations", Some(&admin_a.access_token), None).await).await;
    assert_eq!(list["items"], json!([]), "B's invitations never appear in A's list");
    assert_eq!(stored_state(&app, &id).await, "pending", "untouched");
}

// ---------------------------------------------------------------------------
// records

#[tokio::test]
async fn every_transition_is_audited_and_emitted() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let accepted = invite(&app, &owner, &unique_email("accepts"), "member").await;
    let declined = invite(&app, &owner, &unique_email("declines"), "member").await;
    let revoked = invite(&app, &owner, &unique_email("revoked"), "member").await;
    let expired = invite(&app, &owner, &unique_email("expires"), "member").await;
    let (status, joined) = status_and_json(accept(&app, &text(&accepted, "token"), Some(NEW_PASSWORD)).await).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(decline(&app, &text(&declined, "token")).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(revoke(&app, &owner, &text(&revoked, "id")).await.status(), StatusCode::OK);
    make_overdue(&app, &text(&expired, "id")).await;
    assert_eq!(accept(&app, &text(&expired, "token"), Some(NEW_PASSWORD)).await.status(), StatusCode::GONE);

    let log = audit_log(&app, &owner).await;
    let entry = |action: &str, invitation: &Value| {
        log.iter().find(|e| e["action"] == action && e["target"] == format!("invitation/{}", text(invitation, "id"))).cloned()
    };
    for invitation in [&accepted, &declined, &revoked, &expired] {
        let created = entry("invitation.created", invitation).expect("invitation.created");
        assert_eq!(created["actor"], format!("user:{}", owner.user_id));
    }
    assert_eq!(entry("invitation.accepted", &accepted).expect("accepted")["actor"], format!("user:{}", text(&joined, "user_id")));
    assert_eq!(entry("invitation.declined", &declined).expect("declined")["actor"], "invitee");
    assert_eq!(entry("invitation.revoked", &revoked).expect("revoked")["actor"], format!("user:{}", owner.user_id));
    assert_eq!(entry("invitation.expired", &expired).expect("expired")["actor"], "system");
    assert!(log.iter().all(|e| !e.to_string().contains("soi_")), "no token in the audit log");

    let wanted = ["created", "accepted", "declined", "revoked", "expired"].map(|s| format!("signalops.invitation.{s}"));
    let events = eventually(Duration::from_secs(10), || async {
        let events = app.system_events();
        wanted.iter().all(|w| events.iter().any(|e| &e.r#type == w)).then_some(events)
    })
    .await
    .expect("every invitation event on the events topic");
    let created = events.iter().filter(|e| e.r#type == "signalops.invitation.created").count();
    assert_eq!(created, 4);
    let accepted_event = events.iter().find(|e| e.r#type == "signalops.invitation.accepted").expect("accepted");
    assert_eq!(accepted_event.tenant_id, owner.tenant_id);
    assert_eq!(accepted_event.subject, format!("invitation/{}", text(&accepted, "id")));
    let data: Value = serde_json::from_slice(&accepted_event.data).expect("json");
    assert_eq!(data["accepted_user_id"], joined["user_id"]);
    assert!(events.iter().all(|e| !String::from_utf8_lossy(&e.data).contains("soi_")), "no token in any event");
}
