//! Migrations, row-level security and the start-up safety check, against the
//! real PostgreSQL of the test stack.

use signalops_platform::TenantId;
use signalops_platform::postgres::{self, DbError, SafetyProblem, begin_tenant_tx, check_application_role};
use signalops_testkit::TestStack;

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_a_second_run_applies_nothing() {
    let db = TestStack::attach().empty_database().await.expect("database");
    let first = postgres::migrate(&db.owner_url).await.expect("first run");
    assert!(first.applied.len() >= 4, "applied {:?}", first.applied);
    let second = postgres::migrate(&db.owner_url).await.expect("second run");
    assert!(second.applied.is_empty(), "re-applied {:?}", second.applied);
    assert_eq!(second.current_version, first.current_version);
}

#[tokio::test]
async fn concurrent_migrations_both_succeed_and_apply_once() {
    let db = TestStack::attach().empty_database().await.expect("database");
    let (a, b) = tokio::join!(postgres::migrate(&db.owner_url), postgres::migrate(&db.owner_url));
    let (a, b) = (a.expect("first"), b.expect("second"));
    assert!(a.applied.is_empty() ^ b.applied.is_empty(), "exactly one run applies: {:?} / {:?}", a.applied, b.applied);
    let owner = db.owner().await.expect("owner");
    let rows: i64 = owner.query_one("SELECT count(*) FROM refinery_schema_history", &[]).await.expect("history").get(0);
    assert_eq!(rows as usize, a.applied.len() + b.applied.len());
}

async fn insert_tenant_with_key(db: &signalops_testkit::TestDatabase, tenant: TenantId, prefix: &str) {
    let mut app = db.app().await.expect("app");
    let tx = begin_tenant_tx(&mut app, tenant).await.expect("tx");
    tx.execute("INSERT INTO tenants (id, name) VALUES ($1, 'acme')", &[&tenant.as_uuid()]).await.expect("tenant");
    tx.execute(
        "INSERT INTO api_keys (id, tenant_id, prefix, digest, scopes) VALUES ($1, $2, $3, '\\x00', ARRAY['events:write'])",
        &[&uuid::Uuid::now_v7(), &tenant.as_uuid(), &prefix],
    )
    .await
    .expect("key");
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn tenants_see_only_their_own_rows_and_no_tenant_sees_nothing() {
    let db = TestStack::attach().fresh_database().await.expect("database");
    let (a, b) = (TenantId::new(), TenantId::new());
    insert_tenant_with_key(&db, a, "so_test_a").await;
    insert_tenant_with_key(&db, b, "so_test_b").await;

    let mut app = db.app().await.expect("app");
    let tx = begin_tenant_tx(&mut app, a).await.expect("tx");
    let keys: Vec<String> = tx.query("SELECT prefix FROM api_keys", &[]).await.expect("select").iter().map(|r| r.get(0)).collect();
    assert_eq!(keys, vec!["so_test_a".to_owned()]);
    let tenants: i64 = tx.query_one("SELECT count(*) FROM tenants", &[]).await.expect("count").get(0);
    assert_eq!(tenants, 1);
    // Writing another tenant's row is refused by the policy's WITH CHECK.
    let err = tx
        .execute("INSERT INTO audit_log (tenant_id, actor, action) VALUES ($1, 'x', 'y')", &[&b.as_uuid()])
        .await
        .expect_err("cross-tenant insert must fail");
    let message = err.as_db_error().map(|e| e.message().to_owned()).unwrap_or_default();
    assert!(message.contains("row-level security"), "{err:?}");
    tx.rollback().await.expect("rollback");

    for table in ["tenants", "api_keys", "memberships", "audit_log", "idempotency_keys", "events"] {
        let count: i64 = app.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.expect("count").get(0);
        assert_eq!(count, 0, "{table} visible without a tenant");
    }
}

#[tokio::test]
async fn the_application_role_passes_the_safety_check() {
    let db = TestStack::attach().fresh_database().await.expect("database");
    check_application_role(&db.app().await.expect("app")).await.expect("app role is safe");
}

fn problems(result: Result<(), DbError>) -> Vec<SafetyProblem> {
    match result {
        Err(DbError::Unsafe(problems)) => problems,
        other => panic!("expected an unsafe-role error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_safety_check_refuses_superuser_bypassrls_owner_and_unforced_tables() {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");

    let superuser = db.superuser().await.expect("superuser");
    assert!(problems(check_application_role(&superuser).await).iter().any(|p| matches!(p, SafetyProblem::Superuser(_))));

    let role = format!("bypass_{}", uuid::Uuid::new_v4().simple());
    superuser.batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD 'pw' BYPASSRLS")).await.expect("role");
    let url = db.app_url.replacen("signalops_app:", &format!("{role}:"), 1);
    let url = match url.split_once('@') {
        Some((creds, rest)) => format!("{}:pw@{rest}", creds.rsplit_once(':').map_or(creds, |(user, _)| user)),
        None => url,
    };
    let bypass = postgres::connect_one(&url).await.expect("bypass role connects");
    assert!(problems(check_application_role(&bypass).await).iter().any(|p| matches!(p, SafetyProblem::BypassRls(_))));

    let owner = db.owner().await.expect("owner");
    assert!(problems(check_application_role(&owner).await).iter().any(|p| matches!(p, SafetyProblem::OwnsTables { .. })));

    owner.batch_execute("ALTER TABLE api_keys NO FORCE ROW LEVEL SECURITY").await.expect("alter");
    let app = db.app().await.expect("app");
    let found = problems(check_application_role(&app).await);
    assert_eq!(found, vec![SafetyProblem::RlsNotForced(vec!["api_keys".into()])]);
}

#[tokio::test]
async fn the_safety_check_refuses_an_unmigrated_database() {
    let db = TestStack::attach().empty_database().await.expect("database");
    let app = db.app().await.expect("app");
    assert!(problems(check_application_role(&app).await).iter().any(|p| matches!(p, SafetyProblem::NotMigrated)));
}
