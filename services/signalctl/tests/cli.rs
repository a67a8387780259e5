//! signalctl as operators run it: a real process against the test stack.

use std::process::Output;

use signalops_testkit::{TestDatabase, TestStack};

const PEPPER: &str = "test-pepper-0123456789abcdef0123456789";

fn signalctl(db: Option<&TestDatabase>, stack: &TestStack, args: &[&str], extra_env: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_signalctl"));
    command.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command
        .env("SIGNALOPS_KAFKA_BROKERS", &stack.brokers)
        .env("SIGNALOPS_API_KEYS__PEPPER", PEPPER)
        .env("SIGNALOPS_API_KEYS__ENVIRONMENT", "test");
    if let Some(db) = db {
        command.env("SIGNALOPS_DATABASE_URL", &db.app_url).env("SIGNALOPS_DATABASE_OWNER_URL", &db.owner_url);
    }
    for (key, value) in extra_env {
        command.env(key, value);
    }
    command
}

async fn run_ok(command: &mut tokio::process::Command) -> String {
    let output = command.output().await.expect("signalctl runs");
    assert!(output.status.success(), "signalctl failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

fn assert_clean_failure(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected failure, stdout: {}", String::from_utf8_lossy(&output.stdout));
    assert!(stderr.contains(expected), "stderr lacks {expected:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "panic instead of a message: {stderr}");
}

#[tokio::test]
async fn migrate_run_twice_at_once_succeeds_both_times() {
    let stack = TestStack::attach();
    let db = stack.empty_database().await.expect("database");
    let (a, b) =
        tokio::join!(signalctl(Some(&db), &stack, &["migrate"], &[]).output(), signalctl(Some(&db), &stack, &["migrate"], &[]).output());
    let (a, b) = (a.expect("first"), b.expect("second"));
    assert!(a.status.success() && b.status.success(), "{} / {}", String::from_utf8_lossy(&a.stderr), String::from_utf8_lossy(&b.stderr));
    let again = run_ok(&mut signalctl(Some(&db), &stack, &["migrate"], &[])).await;
    assert!(again.contains("schema up to date"), "{again}");
}

#[tokio::test]
async fn topics_ensure_creates_the_configured_topics_once() {
    let stack = TestStack::attach();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let names: Vec<String> =
        ["events", "notifications", "deliveries", "dlq", "redrive"].iter().map(|t| format!("test.{t}.{suffix}")).collect();
    let env: Vec<(String, String)> = ["EVENTS", "NOTIFICATIONS", "DELIVERIES", "DLQ", "REDRIVE"]
        .iter()
        .zip(&names)
        .map(|(k, v)| (format!("SIGNALOPS_KAFKA__TOPICS__{k}"), v.clone()))
        .chain([("SIGNALOPS_KAFKA__PARTITIONS".to_owned(), "3".to_owned())])
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let first = run_ok(&mut signalctl(None, &stack, &["--json", "topics", "ensure"], &env)).await;
    let first: serde_json::Value = serde_json::from_str(&first).expect("json");
    assert_eq!(first.as_array().map(Vec::len), Some(5));
    assert!(first.as_array().into_iter().flatten().all(|t| t["status"] == "created" && t["partitions"] == 3), "{first}");

    let second = run_ok(&mut signalctl(None, &stack, &["--json", "topics", "ensure"], &env)).await;
    let second: serde_json::Value = serde_json::from_str(&second).expect("json");
    assert!(second.as_array().into_iter().flatten().all(|t| t["status"] == "exists" && t["partitions"] == 3), "{second}");
}

#[tokio::test]
async fn tenants_and_api_keys_can_be_created_listed_and_revoked() {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");
    let created = run_ok(&mut signalctl(Some(&db), &stack, &["--json", "tenants", "create", "--name", "acme"], &[])).await;
    let tenant: serde_json::Value = serde_json::from_str(&created).expect("json");
    let tenant_id = tenant["id"].as_str().expect("id").to_owned();

    let listed = run_ok(&mut signalctl(Some(&db), &stack, &["tenants", "list"], &[])).await;
    assert!(listed.contains(&tenant_id) && listed.contains("acme"), "{listed}");

    let key = run_ok(&mut signalctl(
        Some(&db),
        &stack,
        &["--json", "keys", "create", "--tenant", &tenant_id, "--scopes", "events:write,events:read"],
        &[],
    ))
    .await;
    let key: serde_json::Value = serde_json::from_str(&key).expect("json");
    let secret = key["key"].as_str().expect("key");
    let prefix = key["prefix"].as_str().expect("prefix");
    assert!(secret.starts_with("so_test_") && secret.starts_with(prefix), "{key}");
    signalops_platform::api_keys::ApiKey::parse(secret).expect("printed key is valid");

    // Only the digest is stored, and it verifies against the pepper.
    let owner = db.superuser().await.expect("superuser");
    let row = owner.query_one("SELECT digest, scopes, revoked_at IS NULL FROM api_keys WHERE prefix = $1", &[&prefix]).await.expect("row");
    let digest: Vec<u8> = row.get(0);
    assert!(
        signalops_platform::api_keys::ApiKey::parse(secret).expect("key").verify(&signalops_platform::config::Secret::new(PEPPER), &digest)
    );
    assert_eq!(row.get::<_, Vec<String>>(1), vec!["events:write".to_owned(), "events:read".to_owned()]);
    assert!(row.get::<_, bool>(2));

    run_ok(&mut signalctl(Some(&db), &stack, &["keys", "revoke", prefix], &[])).await;
    let revoked: bool =
        owner.query_one("SELECT revoked_at IS NOT NULL FROM api_keys WHERE prefix = $1", &[&prefix]).await.expect("row").get(0);
    assert!(revoked);
    let actions: Vec<String> =
        owner.query("SELECT action FROM audit_log ORDER BY id", &[]).await.expect("audit").iter().map(|r| r.get(0)).collect();
    assert_eq!(actions, ["tenant.created", "api_key.created", "api_key.revoked"]);
}

#[tokio::test]
async fn bad_input_gets_one_clear_line_not_a_panic() {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");

    let output =
        signalctl(Some(&db), &stack, &["topics", "ensure"], &[("SIGNALOPS_KAFKA_BROKERS", "nonsense")]).output().await.expect("runs");
    assert_clean_failure(&output, "kafka.brokers");

    let output =
        signalctl(None, &stack, &["migrate", "--owner-url", "postgres://nobody:pw@127.0.0.1:1/none"], &[]).output().await.expect("runs");
    assert_clean_failure(&output, "database unreachable at 127.0.0.1:1/none");

    let output = signalctl(Some(&db), &stack, &["keys", "create", "--tenant", "not-a-uuid"], &[]).output().await.expect("runs");
    assert_clean_failure(&output, "not a tenant id");

    let tenant = signalops_platform::TenantId::new().to_string();
    let output =
        signalctl(Some(&db), &stack, &["keys", "create", "--tenant", &tenant, "--scopes", "root"], &[]).output().await.expect("runs");
    assert_clean_failure(&output, "unknown scope");

    let output = signalctl(Some(&db), &stack, &["keys", "create", "--tenant", &tenant], &[("SIGNALOPS_API_KEYS__PEPPER", "short")])
        .output()
        .await
        .expect("runs");
    assert_clean_failure(&output, "api_keys.pepper");

    let output = signalctl(Some(&db), &stack, &["keys", "create", "--tenant", &tenant], &[]).output().await.expect("runs");
    assert_clean_failure(&output, "no tenant");
}
