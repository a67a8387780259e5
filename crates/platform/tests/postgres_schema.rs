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

/// The SECURITY DEFINER partition function cannot be steered by its caller:
/// its search_path is pinned with pg_temp last, and absurd ranges are refused
/// before any table is created.
#[tokio::test]
async fn ensure_event_partitions_pins_its_search_path_and_refuses_absurd_ranges() {
    let db = TestStack::attach().fresh_database().await.expect("database");
    let owner = db.owner().await.expect("owner");
    let row = owner
        .query_one(
            "SELECT prosecdef, proconfig FROM pg_proc WHERE oid = 'public.ensure_event_partitions(date, integer)'::regprocedure",
            &[],
        )
        .await
        .expect("function");
    let definer: bool = row.try_get(0).expect("prosecdef");
    let config: Vec<String> = row.try_get(1).expect("proconfig");
    assert!(definer, "still SECURITY DEFINER");
    assert_eq!(config, vec!["search_path=pg_catalog, public, pg_temp".to_owned()]);

    let app = db.app().await.expect("app");
    let before = partition_count(&app).await;
    for (from, months, what) in [
        ("date_trunc('month', now())::date", "100000", "months"),
        ("date_trunc('month', now())::date", "0", "months"),
        ("date_trunc('month', now())::date", "-3", "months"),
        ("date_trunc('month', now())::date", "NULL", "months"),
        ("'1900-01-01'::date", "1", "from_month"),
        ("'2999-01-01'::date", "1", "from_month"),
        ("NULL::date", "1", "from_month"),
    ] {
        let error = app
            .query_one(&format!("SELECT ensure_event_partitions({from}, {months}::integer)"), &[])
            .await
            .expect_err(&format!("{from}, {months} must be refused"));
        let db_error = error.as_db_error().expect("a database error");
        assert_eq!(db_error.code(), &tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE, "{db_error:?}");
        assert!(db_error.message().contains(what), "{}", db_error.message());
    }
    assert_eq!(partition_count(&app).await, before, "a refused call creates nothing");

    // In range it still works for the application role.
    let created: i32 = app
        .query_one("SELECT ensure_event_partitions(date_trunc('month', now())::date, 36)", &[])
        .await
        .expect("in range")
        .try_get(0)
        .expect("created");
    assert!(created > 0 && partition_count(&app).await == before + i64::from(created));
}

/// A caller's temporary table named like a partition does not fool the
/// function: with pg_temp last and `public.`-qualified names it still
/// creates the real partition.
#[tokio::test]
async fn ensure_event_partitions_ignores_the_callers_temporary_tables() {
    let db = TestStack::attach().fresh_database().await.expect("database");
    let superuser = db.superuser().await.expect("superuser");
    superuser.batch_execute(&format!("GRANT TEMPORARY ON DATABASE {} TO signalops_app", db.name)).await.expect("grant temp");
    let app = db.app().await.expect("app");
    let month: String = app
        .query_one("SELECT to_char(date_trunc('month', now()) + interval '30 months', 'YYYY_MM')", &[])
        .await
        .expect("month")
        .try_get(0)
        .expect("text");
    let name = format!("events_{month}");
    app.batch_execute(&format!("CREATE TEMPORARY TABLE {name} (x int)")).await.expect("temp table");

    let created: i32 = app
        .query_one("SELECT ensure_event_partitions((date_trunc('month', now()) + interval '30 months')::date, 1)", &[])
        .await
        .expect("call")
        .try_get(0)
        .expect("created");
    assert_eq!(created, 1, "the temporary {name} must not count as the partition");
    let row = app
        .query_one(
            "SELECT count(*) FROM pg_inherits WHERE inhrelid = to_regclass($1) AND inhparent = 'public.events'::regclass",
            &[&format!("public.{name}")],
        )
        .await
        .expect("partition");
    assert_eq!(row.try_get::<_, i64>(0).expect("count"), 1);
}

/// Monthly partitions of `events` (not `events_default`).
async fn partition_count(client: &tokio_postgres::Client) -> i64 {
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.events'::regclass AND inhrelid <> 'public.events_default'::regclass",
            &[],
        )
        .await
        .expect("count");
    row.try_get(0).expect("count")
}
