//! Sign-up, sign-in, refresh and sign-out over HTTP against the real stack:
//! the happy path, bad input, indistinguishable failures, rate limits, every
//! JWT attack, refresh-token rotation with family revocation, and the
//! `signalops.user.signed_up` system event.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use signalops_testkit::eventually;

use crate::helpers::{JWT_KEYS, PASSWORD, Person, TestApp, assert_problem, spawn_app, spawn_app_with, status_and_json, unique_email};

// ---------------------------------------------------------------------------
// helpers of this file

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.call(Method::POST, path, None, Some(body)).await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    post(app, "/v1/auth/refresh", json!({"refresh_token": refresh_token})).await
}

async fn get_tenant(app: &TestApp, token: &str) -> (StatusCode, Value) {
    status_and_json(app.call(Method::GET, "/v1/tenant", Some(token), None).await).await
}

/// The field names of a 422 problem's `errors`.
fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

async fn assert_validation(response: reqwest::Response, fields: &[&str]) -> Value {
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed").await;
    let named = error_fields(&problem);
    for field in fields {
        assert!(named.iter().any(|f| f == field), "{field} not named in {problem}");
    }
    problem
}

fn assert_token_pair(body: &Value) {
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert!(body["expires_in"].as_i64().is_some_and(|s| (1..=900).contains(&s)), "{body}");
    assert!(body["refresh_token"].as_str().is_some_and(|t| t.starts_with("sor_")), "{body}");
    assert!(body["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3), "{body}");
}

/// Person from a token-pair response body.
fn person(email: &str, body: &Value) -> Person {
    crate::helpers::person_from(email, body)
}

fn jwt_secret() -> &'static str {
    JWT_KEYS.split_once(':').map(|(_, secret)| secret).unwrap_or_default()
}

/// Claims the gateway would accept for `person`, with `overrides` applied.
fn claims(person: &Person, overrides: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "sub": person.user_id, "tid": person.tenant_id, "typ": "access", "iss": "signalops", "aud": "signalops-api",
        "iat": now, "nbf": now, "exp": now + 300, "jti": uuid::Uuid::now_v7(),
    });
    for (key, value) in overrides.as_object().cloned().unwrap_or_default() {
        claims[key] = value;
    }
    claims
}

fn sign(alg: Algorithm, kid: Option<&str>, secret: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret.as_bytes())).expect("sign")
}

/// Replaces one character in the middle of the signature (the last one may
/// only carry padding bits).
fn tamper_signature(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').expect("three parts");
    let mut signature: Vec<char> = signature.chars().collect();
    let middle = signature.len() / 2;
    signature[middle] = if signature[middle] == 'A' { 'B' } else { 'A' };
    format!("{signed}.{}", signature.into_iter().collect::<String>())
}

// ---------------------------------------------------------------------------
// the happy path

#[tokio::test]
async fn signup_login_refresh_and_logout_work_end_to_end() {
    let app = spawn_app().await;
    let email = unique_email("alice");

    let response = post(&app, "/v1/auth/signup", json!({"email": email, "password": PASSWORD, "tenant_name": "  Acme  "})).await;
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_token_pair(&body);
    let signed_up = person(&email, &body);
    let (status, tenant) = get_tenant(&app, &signed_up.access_token).await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert_eq!(
        (tenant["id"].as_str(), tenant["name"].as_str(), tenant["role"].as_str()),
        (Some(signed_up.tenant_id.as_str()), Some("Acme"), Some("owner"))
    );

    // Sign-in is case-insensitive on the email and needs no tenant_id with one tenant.
    let response = post(&app, "/v1/auth/login", json!({"email": email.to_uppercase(), "password": PASSWORD})).await;
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_token_pair(&body);
    let logged_in = person(&email, &body);
    assert_eq!((&logged_in.user_id, &logged_in.tenant_id), (&signed_up.user_id, &signed_up.tenant_id));
    assert_eq!(get_tenant(&app, &logged_in.access_token).await.0, StatusCode::OK);

    let (status, body) = status_and_json(refresh(&app, &logged_in.refresh_token).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_token_pair(&body);
    let refreshed = person(&email, &body);
    assert_ne!(refreshed.refresh_token, logged_in.refresh_token, "rotated");
    assert_eq!((&refreshed.user_id, &refreshed.tenant_id), (&signed_up.user_id, &signed_up.tenant_id));
    assert_eq!(get_tenant(&app, &refreshed.access_token).await.0, StatusCode::OK);

    let response = post(&app, "/v1/auth/logout", json!({"refresh_token": refreshed.refresh_token})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(refresh(&app, &refreshed.refresh_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn signup_writes_the_tenant_and_owner_to_the_audit_log() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "Audited").await;
    let (status, page) = status_and_json(app.call(Method::GET, "/v1/audit-log", Some(&owner.access_token), None).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().expect("items");
    let actor = format!("user:{}", owner.user_id);
    let targets = [("tenant.created", format!("tenant/{}", owner.tenant_id)), ("member.added", format!("user/{}", owner.user_id))];
    for (action, target) in targets {
        let entry = items.iter().find(|i| i["action"] == action).unwrap_or_else(|| panic!("{action} missing in {page}"));
        assert_eq!(entry["actor"], actor.as_str(), "{entry}");
        assert_eq!(entry["target"], target.as_str(), "{entry}");
        assert!(entry["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{entry}");
    }
}

#[tokio::test]
async fn auth_endpoints_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let (_, spec) = status_and_json(app.call(Method::GET, "/openapi.json", None, None).await).await;
    for path in ["/v1/auth/signup", "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout"] {
        let operation = &spec["paths"][path]["post"];
        assert!(operation.is_object(), "{path} missing");
        assert_eq!(operation["tags"][0], "auth", "{path}");
        assert!(operation["requestBody"].is_object(), "{path} has a request body");
    }
    assert!(spec["components"]["schemas"]["TokenResponse"].is_object());
}

// ---------------------------------------------------------------------------
// sign-up input

#[tokio::test]
async fn signing_up_twice_with_one_email_is_a_conflict_and_creates_nothing() {
    let app = spawn_app().await;
    let email = unique_email("twice");
    app.signup(&email, "First").await;
    let response =
        post(&app, "/v1/auth/signup", json!({"email": email.to_uppercase(), "password": PASSWORD, "tenant_name": "Second"})).await;
    assert_problem(response, StatusCode::CONFLICT, "conflict").await;
    let db = app.db.superuser().await.expect("superuser");
    let tenants: i64 = db.query_one("SELECT count(*) FROM tenants", &[]).await.expect("count").get(0);
    assert_eq!(tenants, 1, "the failed sign-up rolled back its tenant");
}

#[tokio::test]
async fn invalid_signups_name_every_offending_field() {
    let app = spawn_app().await;
    let signup = |body: Value| post(&app, "/v1/auth/signup", body);
    let email = unique_email("valid");

    // Everything wrong at once: all three fields are named in one answer.
    assert_validation(
        signup(json!({"email": "not-an-email", "password": "short", "tenant_name": "   "})).await,
        &["email", "password", "tenant_name"],
    )
    .await;
    let problem =
        assert_validation(signup(json!({"email": email, "password": "password123", "tenant_name": "Acme"})).await, &["password"]).await;
    assert!(problem.to_string().contains("common"), "{problem}");
    assert_validation(signup(json!({"email": email, "password": PASSWORD, "tenant_name": "x".repeat(201)})).await, &["tenant_name"]).await;
    assert_validation(signup(json!({"email": "a@localhost", "password": PASSWORD, "tenant_name": "Acme"})).await, &["email"]).await;
    // Wrong types name the field.
    assert_validation(signup(json!({"email": 42, "password": PASSWORD, "tenant_name": "Acme"})).await, &["email"]).await;
    assert_validation(signup(json!({"email": email, "password": PASSWORD, "tenant_name": ["Acme"]})).await, &["tenant_name"]).await;
    // Unknown and missing fields are refused, and named in the message.
    let problem = assert_problem(
        signup(json!({"email": email, "password": PASSWORD, "tenant_name": "Acme", "role": "admin"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
    assert!(problem.to_string().contains("role"), "{problem}");
    let problem = assert_problem(signup(json!({"email": email})).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed").await;
    assert!(problem.to_string().contains("password"), "{problem}");

    // None of the refused attempts created the account.
    app.signup(&email, "Acme").await;
}

#[tokio::test]
async fn invalid_login_refresh_and_logout_bodies_name_the_field() {
    let app = spawn_app().await;
    assert_validation(post(&app, "/v1/auth/login", json!({"email": "nobody", "password": PASSWORD})).await, &["email"]).await;
    let body = json!({"email": unique_email("x"), "password": PASSWORD, "tenant_id": "not-a-uuid"});
    assert_validation(post(&app, "/v1/auth/login", body).await, &["tenant_id"]).await;
    assert_validation(post(&app, "/v1/auth/refresh", json!({"refresh_token": 5})).await, &["refresh_token"]).await;
    assert_validation(post(&app, "/v1/auth/logout", json!({"refresh_token": null})).await, &["refresh_token"]).await;
    let problem = assert_problem(
        post(&app, "/v1/auth/refresh", json!({"refresh_token": "sor_x", "family": "x"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
    assert!(problem.to_string().contains("family"), "{problem}");
}

// ---------------------------------------------------------------------------
// failed sign-ins

#[tokio::test]
async fn unknown_email_and_wrong_password_look_identical() {
    let app = spawn_app().await;
    let alice = app.signup(&unique_email("alice"), "Acme").await;
    let attempt = |email: String, password: &'static str| {
        let app = &app;
        async move {
            let response = post(app, "/v1/auth/login", json!({"email": email, "password": password})).await;
            let www_authenticate = response.headers().get("www-authenticate").cloned();
            let (status, body) = status_and_json(response).await;
            (status, body, www_authenticate)
        }
    };
    let wrong_password = attempt(alice.email.clone(), "not-the-right-password").await;
    let unknown_email = attempt(unique_email("nobody"), PASSWORD).await;
    assert_eq!(wrong_password.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.1["detail"], "invalid email or password", "{}", wrong_password.1);
    assert_eq!(wrong_password, unknown_email, "status, body and headers are identical");
}

/// Without the decoy hash an unknown email would answer in ~1 ms against
/// ~50 ms for a wrong password: the difference would reveal who has an
/// account. At cost 10 the two must take comparable time.
#[tokio::test]
async fn unknown_email_costs_a_bcrypt_verification_too() {
    let app = spawn_app_with(|c| {
        c.auth.bcrypt_cost = 10;
        c.auth.login_attempts_per_minute_per_email = 100;
        c.auth.login_attempts_per_minute_per_ip = 100;
    })
    .await;
    let alice = app.signup(&unique_email("alice"), "Acme").await;
    let timed = |email: String| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response = post(app, "/v1/auth/login", json!({"email": email, "password": "not-the-right-password"})).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            started.elapsed()
        }
    };
    timed(unique_email("warm-up")).await;
    let mut wrong_password = Vec::new();
    let mut unknown_email = Vec::new();
    for _ in 0..5 {
        wrong_password.push(timed(alice.email.clone()).await);
        unknown_email.push(timed(unique_email("nobody")).await);
    }
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (wrong_password, unknown_email) = (median(wrong_password), median(unknown_email));
    assert!(unknown_email * 3 > wrong_password, "unknown email {unknown_email:?} vs wrong password {wrong_password:?}");
}

#[tokio::test]
async fn login_is_rate_limited_per_email_with_retry_after() {
    let app = spawn_app_with(|c| c.auth.login_attempts_per_minute_per_email = 2).await;
    let alice = app.signup(&unique_email("alice"), "Acme").await;
    let wrong = json!({"email": alice.email, "password": "not-the-right-password"});
    for _ in 0..2 {
        assert_problem(post(&app, "/v1/auth/login", wrong.clone()).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let response = post(&app, "/v1/auth/login", wrong).await;
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    assert!(retry_after.is_some_and(|s| s >= 1), "Retry-After: {retry_after:?}");
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;
    // Even the right password waits: the budget is spent per attempt, and
    // differently written forms of the email share it.
    let right = json!({"email": format!("  {}", alice.email.to_uppercase()), "password": PASSWORD});
    assert_problem(post(&app, "/v1/auth/login", right).await, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;
    // Another person is not affected.
    let bob = app.signup(&unique_email("bob"), "Bobs").await;
    app.login(&bob.email, None).await;
}

// ---------------------------------------------------------------------------
// tenants at sign-in

#[tokio::test]
async fn login_for_a_person_in_two_tenants_requires_tenant_id() {
    let app = spawn_app().await;
    let alice = app.signup(&unique_email("alice"), "Alice Inc").await;
    let bob = app.signup(&unique_email("bob"), "Bob Ltd").await;
    let db = app.db.superuser().await.expect("superuser");
    let (alice_id, bob_tenant): (uuid::Uuid, uuid::Uuid) = (alice.user_id.parse().expect("id"), bob.tenant_id.parse().expect("id"));
    db.execute("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'member')", &[&bob_tenant, &alice_id])
        .await
        .expect("membership");

    let problem =
        assert_validation(post(&app, "/v1/auth/login", json!({"email": alice.email, "password": PASSWORD})).await, &["tenant_id"]).await;
    assert!(problem.to_string().contains("several tenants"), "{problem}");

    let in_bobs = app.login(&alice.email, Some(&bob.tenant_id)).await;
    assert_eq!(in_bobs.tenant_id, bob.tenant_id);
    let (status, tenant) = get_tenant(&app, &in_bobs.access_token).await;
    assert_eq!((status, tenant["name"].as_str(), tenant["role"].as_str()), (StatusCode::OK, Some("Bob Ltd"), Some("member")));
    assert_eq!(app.login(&alice.email, Some(&alice.tenant_id)).await.tenant_id, alice.tenant_id);

    // A tenant she does not belong to answers exactly like a wrong password.
    let elsewhere =
        post(&app, "/v1/auth/login", json!({"email": alice.email, "password": PASSWORD, "tenant_id": uuid::Uuid::now_v7()})).await;
    let wrong_password = post(&app, "/v1/auth/login", json!({"email": bob.email, "password": "not-the-right-password"})).await;
    assert_eq!(status_and_json(elsewhere).await, status_and_json(wrong_password).await);
}

#[tokio::test]
async fn a_person_without_any_tenant_is_forbidden() {
    let app = spawn_app().await;
    let email = unique_email("loner");
    let hash = bcrypt::hash(PASSWORD, 4).expect("hash");
    let db = app.db.superuser().await.expect("superuser");
    db.execute("INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)", &[&uuid::Uuid::now_v7(), &email, &hash])
        .await
        .expect("user");
    assert_problem(post(&app, "/v1/auth/login", json!({"email": email, "password": PASSWORD})).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
}

// ---------------------------------------------------------------------------
// JWT attacks

#[tokio::test]
async fn every_jwt_attack_gets_401() {
    let app = spawn_app().await;
    let alice = app.signup(&unique_email("alice"), "Acme").await;
    let secret = jwt_secret();
    let now = chrono::Utc::now().timestamp();

    // The control: a token crafted here the way the server would, accepted.
    // Each attack below differs from it in exactly one respect.
    let genuine = sign(Algorithm::HS256, Some("t1"), secret, &claims(&alice, json!({})));
    assert_eq!(get_tenant(&app, &genuine).await.0, StatusCode::OK, "the crafted control token is valid");

    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"t1"}"#),
        URL_SAFE_NO_PAD.encode(claims(&alice, json!({})).to_string())
    );
    let (genuine_header, _) = genuine.split_once('.').expect("parts");
    let genuine_signature = genuine.rsplit_once('.').map(|(_, s)| s).expect("parts");
    let other_tenant_payload = URL_SAFE_NO_PAD.encode(claims(&alice, json!({"tid": uuid::Uuid::now_v7()})).to_string());
    let attacks = [
        ("alg none", alg_none),
        ("HS512 with the right secret", sign(Algorithm::HS512, Some("t1"), secret, &claims(&alice, json!({})))),
        ("HS384 with the right secret", sign(Algorithm::HS384, Some("t1"), secret, &claims(&alice, json!({})))),
        ("tampered signature", tamper_signature(&genuine)),
        ("tampered payload", format!("{genuine_header}.{other_tenant_payload}.{genuine_signature}")),
        (
            "signed with another secret",
            sign(Algorithm::HS256, Some("t1"), "attacker-secret-0123456789abcdef0123", &claims(&alice, json!({}))),
        ),
        (
            "expired",
            sign(Algorithm::HS256, Some("t1"), secret, &claims(&alice, json!({"iat": now - 900, "nbf": now - 900, "exp": now - 120}))),
        ),
        ("nbf in the future", sign(Algorithm::HS256, Some("t1"), secret, &claims(&alice, json!({"nbf": now + 600})))),
        ("wrong iss", sign(Algorithm::HS256, Some("t1"), secret, &claims(&alice, json!({"iss": "evil"})))),
        ("wrong aud", sign(Algorithm::HS256, Some("t1"), secret, &claims(&alice, json!({"aud": "another-api"})))),
        ("unknown kid", sign(Algorithm::HS256, Some("t9"), secret, &claims(&alice, json!({})))),
        ("no kid", sign(Algorithm::HS256, None, secret, &claims(&alice, json!({})))),
        ("not an access token (typ)", sign(Algorithm::HS256, Some("t1"), secret, &claims(&alice, json!({"typ": "refresh"})))),
        ("a refresh token as access token", alice.refresh_token.clone()),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (name, token) in attacks {
        let response = app.call(Method::GET, "/v1/tenant", Some(&token), None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

// ---------------------------------------------------------------------------
// refresh-token rotation and families

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_its_family() {
    let app = spawn_app().await;
    let alice = app.signup(&unique_email("alice"), "Acme").await;
    let other_session = app.login(&alice.email, None).await;

    let token_a = alice.refresh_token.clone();
    let (status, body) = status_and_json(refresh(&app, &token_a).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token_b = body["refresh_token"].as_str().expect("rotated").to_owned();

    // A is presented again (say, by a thief who copied it): refused, and B,
    // the legitimate successor, dies with it.
    let reuse = assert_problem(refresh(&app, &token_a).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_problem(refresh(&app, &token_b).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let unknown = assert_problem(refresh(&app, &format!("sor_{}", "A".repeat(43))).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(reuse, unknown, "a reuse looks like any invalid token");

    let db = app.db.superuser().await.expect("superuser");
    let user: uuid::Uuid = alice.user_id.parse().expect("id");
    let families: Vec<(i64, i64)> = db
        .query(
            "SELECT count(*), count(*) FILTER (WHERE revoked_at IS NOT NULL) FROM refresh_tokens WHERE user_id = $1 GROUP BY family_id ORDER BY min(created_at)",
            &[&user],
        )
        .await
        .expect("families")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(families, vec![(2, 2), (1, 0)], "the sign-up family (A, B) is revoked; the login family is not");

    // Other sign-ins of the same person are separate families and live on.
    assert_eq!(refresh(&app, &other_session.refresh_token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_let_exactly_one_through() {
    let app = spawn_app().await;
    let alice = app.signup(&unique_email("alice"), "Acme").await;
    let attempts = (0..6).map(|_| async { status_and_json(refresh(&app, &alice.refresh_token).await).await });
    let results = futures::future::join_all(attempts).await;
    let winners: Vec<&Value> = results.iter().filter(|(status, _)| *status == StatusCode::OK).map(|(_, body)| body).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(results.iter().all(|(status, _)| *status == StatusCode::OK || *status == StatusCode::UNAUTHORIZED), "{results:?}");
    // The losers presented a used token: the family, the winner's new token
    // included, is revoked — the race is treated as the theft it looks like.
    let winner_token = winners[0]["refresh_token"].as_str().expect("token");
    assert_problem(refresh(&app, winner_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn logout_revokes_the_family_and_unknown_tokens_also_get_204() {
    let app = spawn_app().await;
    let alice = app.signup(&unique_email("alice"), "Acme").await;
    let second = app.login(&alice.email, None).await;
    let (status, body) = status_and_json(refresh(&app, &second.refresh_token).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rotated = body["refresh_token"].as_str().expect("token").to_owned();

    // Signing out with the *old* token of the family ends the whole family.
    let logout = |token: String| post(&app, "/v1/auth/logout", json!({"refresh_token": token}));
    assert_eq!(logout(second.refresh_token.clone()).await.status(), StatusCode::NO_CONTENT);
    assert_problem(refresh(&app, &rotated).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Twice is fine; unknown and malformed tokens get the same 204.
    assert_eq!(logout(rotated).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(logout(format!("sor_{}", "B".repeat(43))).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(logout("nonsense".to_owned()).await.status(), StatusCode::NO_CONTENT);
    // The sign-up's own family is untouched.
    assert_eq!(refresh(&app, &alice.refresh_token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn expired_refresh_tokens_and_removed_members_cannot_refresh() {
    let app = spawn_app().await;
    let alice = app.signup(&unique_email("alice"), "Acme").await;
    let member = app.add_member(&alice.tenant_id, "member").await;
    let db = app.db.superuser().await.expect("superuser");

    let alice_id: uuid::Uuid = alice.user_id.parse().expect("id");
    db.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1", &[&alice_id])
        .await
        .expect("expire");
    assert_problem(refresh(&app, &alice.refresh_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let member_id: uuid::Uuid = member.user_id.parse().expect("id");
    db.execute("DELETE FROM memberships WHERE user_id = $1", &[&member_id]).await.expect("remove");
    assert_problem(refresh(&app, &member.refresh_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

// ---------------------------------------------------------------------------
// the system event

/// One record of the events topic with its key and headers.
struct Record {
    key: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    event: signalops_proto::Event,
}

/// Reads `topic` from the start until a record of `event_type` arrives
/// (blocking: run it on a blocking thread).
fn find_record(brokers: &str, topic: &str, event_type: &str) -> Option<Record> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use signalops_proto::Message as _;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("auth-test-{}", uuid::Uuid::new_v4().simple()))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) else { continue };
        let event = signalops_proto::Event::decode(message.payload().unwrap_or_default()).expect("envelope");
        if event.r#type != event_type {
            continue;
        }
        let headers = message
            .headers()
            .map(|h| h.iter().map(|header| (header.key.to_owned(), header.value.unwrap_or_default().to_vec())).collect())
            .unwrap_or_default();
        let key = message.key().map(|k| String::from_utf8_lossy(k).into_owned());
        return Some(Record { key, headers, event });
    }
    None
}

#[tokio::test]
async fn signing_up_emits_user_signed_up_with_the_envelope_headers() {
    let app = spawn_app().await;
    let alice = app.signup(&unique_email("alice"), "Acme").await;

    // Staged with the sign-up, relayed to Kafka shortly after (ADR 0009).
    let event =
        eventually(Duration::from_secs(10), || async { app.system_events().into_iter().find(|e| e.r#type == "signalops.user.signed_up") })
            .await
            .expect("signalops.user.signed_up on the events topic");
    assert_eq!(event.tenant_id, alice.tenant_id);

    let (brokers, topic) = (app.stack.brokers.clone(), app.config.kafka.topics.events.clone());
    let record = tokio::task::spawn_blocking(move || find_record(&brokers, &topic, "signalops.user.signed_up"))
        .await
        .expect("reader")
        .expect("signed_up record");
    let event = &record.event;
    assert_eq!(event.tenant_id, alice.tenant_id);
    assert_eq!(event.subject, format!("user/{}", alice.user_id));
    assert_eq!(event.source, "/signalops/control-plane");
    let data: Value = serde_json::from_slice(&event.data).expect("json data");
    assert_eq!(data, json!({"user_id": alice.user_id, "email": alice.email, "tenant_id": alice.tenant_id}));
    assert_eq!(record.key.as_deref(), Some(alice.tenant_id.as_str()), "keyed by tenant");

    let header = |name: &str| signalops_proto::headers::find(&record.headers, name).map(str::to_owned);
    assert_eq!(header("ce_type").as_deref(), Some("signalops.user.signed_up"));
    assert_eq!(header("ce_tenantid"), Some(alice.tenant_id.clone()));
    assert_eq!(header("ce_id"), Some(event.id.clone()));
    assert_eq!(header("ce_subject"), Some(format!("user/{}", alice.user_id)));
    assert_eq!(header("ce_specversion").as_deref(), Some("1.0"));
    assert!(header("ce_source").is_some() && header("ce_time").is_some() && header("content-type").is_some(), "{:?}", record.headers);
}

#[tokio::test]
async fn sign_ups_spend_the_per_address_budget() {
    let app = spawn_app_with(|c| c.auth.login_attempts_per_minute_per_ip = 2).await;
    for name in ["first", "second"] {
        app.signup(&unique_email(name), name).await;
    }
    let body = json!({"email": unique_email("third"), "password": PASSWORD, "tenant_name": "third"});
    let response = app.call(Method::POST, "/v1/auth/signup", None, Some(body)).await;
    assert!(response.headers().get("retry-after").is_some());
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;
}

#[tokio::test]
async fn passwords_longer_than_bcrypt_reads_are_refused() {
    let app = spawn_app().await;
    let body = json!({"email": unique_email("long"), "password": "violet-harbour-lantern-".repeat(4), "tenant_name": "t"});
    let problem = assert_problem(
        app.call(Method::POST, "/v1/auth/signup", None, Some(body)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
    assert!(problem["errors"].to_string().contains("72 bytes"), "{problem}");
}
