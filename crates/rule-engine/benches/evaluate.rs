//! Evaluating a five-leaf condition (a number, a set, a string prefix, a
//! regex and a time), with and without the trace. The target is at least
//! 1,000,000 evaluations per second per core.

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use signalops_rule_engine::{CompiledCondition, Event, parse};

fn bench(c: &mut Criterion) {
    let condition = parse::condition(&json!({"all": [
        {"path": "/data/amount", "op": "gte", "value": 1000},
        {"path": "data.currency", "op": "in", "value": ["EUR", "USD", "GBP"]},
        {"path": "type", "op": "starts_with", "value": "payment."},
        {"path": "/data/customer/email", "op": "matches", "value": "@example\\.(com|org)$"},
        {"path": "/data/due_at", "op": "lt", "value": "2026-06-30T00:00:00+02:00", "as": "time"}
    ]}))
    .expect("parses");
    let compiled = CompiledCondition::compile(&condition).expect("compiles");
    let data = json!({
        "amount": 1200,
        "currency": "EUR",
        "customer": {"id": "c1", "email": "ops@example.com"},
        "due_at": "2026-01-01T10:00:00+02:00",
        "items": [{"sku": "a", "price": 600}, {"sku": "b", "price": 600}]
    });
    let event = Event {
        id: "01900000-0000-7000-8000-000000000001",
        event_type: "payment.failed",
        source: "/billing",
        subject: Some("customer/c1"),
        time: None,
        received_at: DateTime::<Utc>::from_timestamp(1_767_225_600, 0).expect("valid"),
        data: &data,
        causation: None,
    };
    assert!(compiled.matches(&event), "every leaf is evaluated");

    let mut group = c.benchmark_group("five_leaves");
    group.throughput(Throughput::Elements(1));
    group.bench_function("matches", |b| b.iter(|| black_box(&compiled).matches(black_box(&event))));
    group.bench_function("evaluate_with_trace", |b| b.iter(|| black_box(&compiled).evaluate(black_box(&event)).matched));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
