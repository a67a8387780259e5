//! `signalctl dlq` against the real broker and database: dead letters are
//! produced the way the consumer runtime produces them (`DeadLetterSink`),
//! on a random dead-letter topic, and the commands run as processes.

mod helpers;
mod redrive_into_a_running_group;

use std::collections::BTreeMap;
use std::time::Duration;

use helpers::{Dlq, counts, errors};
use signalops_platform::consumer::ErrorClass;
use signalops_platform::consumer::dead_letter::{HEADER_REDRIVE_GROUP, HEADER_REDRIVE_SOURCE};

/// The errors of the dead letters `dlq list <args>` lists.
async fn only(t: &Dlq, args: &[&str]) -> Vec<String> {
    let mut all = vec!["dlq", "list"];
    all.extend_from_slice(args);
    errors(&t.json(&all).await)
}

fn key(group: &str, class: &str) -> (String, String) {
    (group.to_owned(), class.to_owned())
}

#[tokio::test]
async fn list_filters_by_group_topic_class_tenant_and_time_and_counts_per_group_and_class() {
    let t = Dlq::new(2).await;
    let (t1, t2) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    t.dead_letter("group-a", "src.a", &t1, ErrorClass::Poison, "a1").await;
    t.dead_letter("group-a", "src.a", &t2, ErrorClass::Poison, "a2").await;
    t.dead_letter("group-a", "src.b", &t2, ErrorClass::Constraint, "a3").await;
    t.dead_letter_bytes("group-b", "src.a", 1, &t1, vec![0xde, 0xad], ErrorClass::Decode, "b1").await;
    t.classless_dead_letter("group-b", "src.b", &t2, "b2").await;
    // Record timestamps are the producer's clock: leave a clear gap.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let cut = chrono::Utc::now().to_rfc3339();
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.dead_letter("group-a", "src.a", &t2, ErrorClass::Poison, "a4").await;

    let all = t.json(&["dlq", "list"]).await;
    assert_eq!(all["total"], 6, "{all}");
    assert_eq!(
        counts(&all),
        BTreeMap::from([
            (key("group-a", "constraint"), 1),
            (key("group-a", "poison"), 3),
            (key("group-b", "decode"), 1),
            (key("group-b", "unknown"), 1),
        ])
    );
    assert_eq!(only(&t, &["--group", "group-b"]).await, ["b1", "b2"]);
    assert_eq!(only(&t, &["--source-topic", "src.b"]).await, ["a3", "b2"]);
    assert_eq!(only(&t, &["--error-class", "unknown"]).await, ["b2"], "a dead letter without a class is `unknown`");
    assert_eq!(only(&t, &["--error-class", "poison", "--group", "group-a"]).await, ["a1", "a2", "a4"]);
    assert_eq!(errors(&t.json(&["dlq", "list", "--tenant", &t1]).await), ["a1", "b1"]);
    assert_eq!(errors(&t.json(&["dlq", "list", "--since", &cut]).await), ["a4"]);
    assert_eq!(errors(&t.json(&["dlq", "list", "--until", &cut]).await), ["a1", "a2", "a3", "b1", "b2"]);
    let filtered = t.json(&["dlq", "list", "--tenant", &t2, "--until", &cut]).await;
    assert_eq!(
        counts(&filtered),
        BTreeMap::from([(key("group-a", "constraint"), 1), (key("group-a", "poison"), 1), (key("group-b", "unknown"), 1)])
    );

    let limited = t.json(&["dlq", "list", "--limit", "2"]).await;
    assert_eq!((limited["total"].clone(), limited["shown"].clone()), (6.into(), 2.into()));
    assert_eq!(limited["records"].as_array().map(Vec::len), Some(2));
    assert_eq!(limited["records"][1]["error"], "a4", "the newest are shown");
    assert_eq!(counts(&limited), counts(&all), "counts cover every match, not only those shown");

    let text = String::from_utf8(t.signalctl(&["dlq", "list"]).output().await.expect("runs").stdout).expect("utf-8");
    assert!(text.contains("POSITION") && text.contains("6 dead letter(s)"), "{text}");
    assert!(t.fails(&["dlq", "list", "--error-class", "transient"]).await.contains("not an error class"));
    assert!(t.fails(&["dlq", "list", "--since", &cut, "--until", &cut]).await.contains("is not before"));
}

#[tokio::test]
async fn show_decodes_the_dead_letter_and_its_event_and_refuses_a_missing_position() {
    let t = Dlq::new(1).await;
    let tenant = uuid::Uuid::new_v4().to_string();
    t.dead_letter("group-a", "src.a", &tenant, ErrorClass::Constraint, "duplicate key value violates unique constraint").await;
    t.classless_dead_letter("group-b", "src.b", &tenant, "old").await;

    let shown = t.json(&["dlq", "show", "0:0"]).await;
    assert_eq!(
        (shown["group"].as_str(), shown["error_class"].as_str(), shown["tenant"].as_str()),
        (Some("group-a"), Some("constraint"), Some(tenant.as_str()))
    );
    assert_eq!(
        (shown["source_topic"].as_str(), shown["source_partition"].as_i64(), shown["source_offset"].as_i64()),
        (Some("src.a"), Some(0), Some(100))
    );
    assert_eq!(shown["error"], "duplicate key value violates unique constraint");
    assert!(shown["failed_at"].is_string(), "{shown}");
    let headers: Vec<(&str, &str)> = shown["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .map(|h| (h["key"].as_str().expect("k"), h["value"].as_str().expect("v")))
        .collect();
    assert!(headers.contains(&("dlq_group", "group-a")) && headers.contains(&("dlq_error_class", "constraint")), "{headers:?}");
    let event = &shown["original"]["event"];
    assert_eq!(
        (event["decodes"].clone(), event["tenant_id"].as_str(), event["type"].as_str()),
        (true.into(), Some(tenant.as_str()), Some("invoice.paid"))
    );
    assert_eq!(event["data"]["json"]["amount"], 42, "{event}");
    assert_eq!(shown["original"]["headers"][0]["key"], "ce_type");

    let old = t.json(&["dlq", "show", "0:1"]).await;
    assert_eq!((old["error_class"].as_str(), old["group"].as_str()), (Some("unknown"), Some("group-b")));
    assert_eq!(old["original"]["event"]["decodes"], true, "an empty value decodes as an empty envelope");
    assert!(old["original"]["event"]["invalid"].is_string(), "and says why a consumer refuses it: {old}");

    let text = String::from_utf8(t.signalctl(&["dlq", "show", "0:0"]).output().await.expect("runs").stdout).expect("utf-8");
    assert!(text.contains("group        group-a") && text.contains("\"amount\": 42"), "{text}");
    assert!(t.fails(&["dlq", "show", "0:9"]).await.contains("has no record 0:9"));
    assert!(t.fails(&["dlq", "show", "5:0"]).await.contains("has no partition 5"));
    assert!(t.fails(&["dlq", "show", "zero"]).await.contains("PARTITION:OFFSET"));
}

#[tokio::test]
async fn redrive_is_a_dry_run_by_default_then_appends_exactly_the_selected_with_headers_and_an_audit_entry_once() {
    let t = Dlq::new(2).await;
    let (t1, t2) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    t.dead_letter("group-a", "src.a", &t1, ErrorClass::Constraint, "a1").await;
    t.dead_letter("group-a", "src.a", &t2, ErrorClass::Constraint, "a2").await;
    t.dead_letter("group-a", "src.a", &t2, ErrorClass::Poison, "a3").await;
    t.dead_letter("group-b", "src.a", &t1, ErrorClass::Constraint, "b1").await;
    let dead_letters = t.read_topic(&t.dlq);

    assert!(t.fails(&["dlq", "redrive"]).await.contains("choose the dead letters"));
    let plan = t.json(&["dlq", "redrive", "--group", "group-a", "--error-class", "constraint"]).await;
    assert_eq!((plan["executed"].clone(), plan["to_send"].as_array().map(Vec::len)), (false.into(), Some(2)), "{plan}");
    assert!(t.read_topic(&t.redrive).is_empty(), "a dry run appends nothing");
    assert!(t.audit().await.is_empty(), "a dry run writes no audit entry");

    let done =
        t.json(&["dlq", "redrive", "--group", "group-a", "--error-class", "constraint", "--execute", "--actor", "ops@example.test"]).await;
    assert_eq!(done["appended"].as_array().map(Vec::len), Some(2), "{done}");
    let redriven = t.read_topic(&t.redrive);
    let selected: Vec<_> = dead_letters
        .iter()
        .filter(|r| r.header("dlq_group") == Some("group-a") && r.header("dlq_error_class") == Some("constraint"))
        .collect();
    assert_eq!(redriven.len(), 2, "exactly the selected dead letters: {redriven:?}");
    let mut sources: Vec<String> = Vec::new();
    for r in &redriven {
        let source = r.header(HEADER_REDRIVE_SOURCE).expect("redrive_source").to_owned();
        let original = selected.iter().find(|d| format!("{}:{}", d.partition, d.offset) == source).expect("a selected dead letter");
        assert_eq!((&r.key, &r.value), (&original.key, &original.value), "key and value are the dead letter's, unchanged");
        assert_eq!(r.header(HEADER_REDRIVE_GROUP), Some("group-a"));
        sources.push(source);
    }
    sources.sort();
    sources.dedup();
    assert_eq!(sources.len(), 2);
    let audit = t.audit().await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    let (action, actor, tenants, details) = &audit[0];
    let mut expected_tenants = vec![t1.clone(), t2.clone()];
    expected_tenants.sort();
    assert_eq!((action.as_str(), actor.as_str(), tenants), ("dlq.redrive", "ops@example.test", &expected_tenants));
    assert_eq!(details["records"].as_array().map(Vec::len), Some(2), "{details}");

    // The same redrive again: both are found on the redrive topic and skipped.
    let again = t.json(&["dlq", "redrive", "--group", "group-a", "--error-class", "constraint", "--execute"]).await;
    assert_eq!(again["skipped_redriven"].as_array().map(Vec::len), Some(2), "{again}");
    assert_eq!(t.read_topic(&t.redrive).len(), 2, "no duplicates appended");
    assert_eq!(t.audit().await.len(), 1, "nothing appended, nothing audited");
    let listed = t.json(&["dlq", "list", "--group", "group-a"]).await;
    let flags: BTreeMap<String, bool> = listed["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| (r["error"].as_str().expect("e").to_owned(), r["redriven"] == true))
        .collect();
    assert_eq!(flags, BTreeMap::from([("a1".into(), true), ("a2".into(), true), ("a3".into(), false)]));

    // One by position, sent again on purpose.
    let position = &sources[0];
    let forced = t.json(&["dlq", "redrive", "--record", position, "--include-redriven", "--execute"]).await;
    assert_eq!(forced["appended"].as_array().map(Vec::len), Some(1), "{forced}");
    assert_eq!(t.read_topic(&t.redrive).len(), 3);
    assert_eq!(t.audit().await.len(), 2);

    // A record dead-lettered twice (a crash before the offset commit) is sent once.
    t.dead_letter_at("group-c", "src.a", 5_000, &t1, ErrorClass::Data, "c1").await;
    t.dead_letter_at("group-c", "src.a", 5_000, &t1, ErrorClass::Data, "c1").await;
    let once = t.json(&["dlq", "redrive", "--group", "group-c", "--execute"]).await;
    assert_eq!(
        (once["appended"].as_array().map(Vec::len), once["skipped_duplicates"].as_array().map(Vec::len)),
        (Some(1), Some(1)),
        "{once}"
    );
    assert_eq!(t.read_topic(&t.redrive).len(), 4);
    let twins = t.json(&["dlq", "list", "--group", "group-c"]).await;
    assert!(
        twins["records"].as_array().expect("records").iter().all(|r| r["redriven"] == true),
        "both positions count as redriven: {twins}"
    );
}

#[tokio::test]
async fn purge_is_a_dry_run_by_default_then_deletes_exactly_the_dead_letters_before_the_time() {
    let t = Dlq::new(3).await;
    for i in 0..9 {
        t.dead_letter("group-a", "src.a", &uuid::Uuid::new_v4().to_string(), ErrorClass::Poison, &format!("old{i}")).await;
    }
    // Record timestamps are the producer's clock: leave a clear gap.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let cut = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..6 {
        t.dead_letter("group-b", "src.a", &uuid::Uuid::new_v4().to_string(), ErrorClass::Data, &format!("new{i}")).await;
    }
    let before = t.read_topic(&t.dlq);
    let kept: Vec<_> = before.iter().filter(|r| r.timestamp_ms >= cut.timestamp_millis()).cloned().collect();
    assert_eq!(kept.len(), 6);
    let marks = t.watermarks(&t.dlq);

    let cut_text = cut.to_rfc3339();
    let plan = t.json(&["dlq", "purge", "--before", &cut_text]).await;
    assert_eq!(
        (plan["executed"].clone(), plan["records"].clone(), plan["never_redriven"].clone()),
        (false.into(), 9.into(), 9.into()),
        "{plan}"
    );
    assert_eq!(t.watermarks(&t.dlq), marks, "a dry run deletes nothing");
    assert!(t.audit().await.is_empty());

    let done = t.json(&["dlq", "purge", "--before", &cut_text, "--execute", "--actor", "ops"]).await;
    assert_eq!(done["records"], 9, "{done}");
    assert_eq!(t.read_topic(&t.dlq), kept, "exactly the dead letters before the time are gone");
    let expected_starts: BTreeMap<i32, i64> = marks
        .iter()
        .map(|(p, (_, high))| (*p, kept.iter().filter(|r| r.partition == *p).map(|r| r.offset).min().unwrap_or(*high)))
        .collect();
    let starts: BTreeMap<i32, i64> = t.watermarks(&t.dlq).into_iter().map(|(p, (low, _))| (p, low)).collect();
    assert_eq!(starts, expected_starts);
    let audit = t.audit().await;
    assert_eq!((audit.len(), audit[0].0.as_str(), audit[0].1.as_str(), audit[0].2.len()), (1, "dlq.purge", "ops", 9), "{audit:?}");
    assert_eq!(t.json(&["dlq", "list"]).await["total"], 6);
}
