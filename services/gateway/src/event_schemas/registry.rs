//! Compiled schemas, cached per (tenant, type) for a short TTL so ingest
//! does not query Postgres per event; a change takes effect on every
//! gateway within the TTL (at once on the one that made it).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use signalops_platform::TenantId;
use signalops_platform::postgres::{Pool, begin_tenant_tx};

use crate::problem::{ApiError, FieldError};

type Compiled = Option<Arc<jsonschema::Validator>>;

pub struct SchemaRegistry {
    pool: Pool,
    cache: Cache<(TenantId, String), Compiled>,
}

impl SchemaRegistry {
    pub fn new(pool: Pool, ttl: Duration) -> Self {
        Self { pool, cache: Cache::builder().max_capacity(100_000).time_to_live(ttl).build() }
    }

    /// Compiles a schema, or says why it is not one.
    pub fn compile(schema: &serde_json::Value) -> Result<jsonschema::Validator, ApiError> {
        jsonschema::validator_for(schema).map_err(|e| ApiError::field("schema", format!("is not a valid JSON Schema: {e}")))
    }

    pub async fn forget(&self, tenant: TenantId, event_type: &str) {
        self.cache.invalidate(&(tenant, event_type.to_owned())).await;
    }

    /// The validators of `types` (None: no schema registered).
    pub async fn validators(&self, tenant: TenantId, types: BTreeSet<String>) -> Result<Vec<(String, Compiled)>, ApiError> {
        let mut found = Vec::with_capacity(types.len());
        let mut missing = Vec::new();
        for event_type in types {
            match self.cache.get(&(tenant, event_type.clone())).await {
                Some(compiled) => found.push((event_type, compiled)),
                None => missing.push(event_type),
            }
        }
        if !missing.is_empty() {
            let mut client = self.pool.get().await?;
            let tx = begin_tenant_tx(&mut client, tenant).await?;
            let rows = tx.query("SELECT event_type, schema FROM event_schemas WHERE event_type = ANY($1)", &[&missing]).await?;
            tx.commit().await?;
            for event_type in missing {
                let mut schema: Option<serde_json::Value> = None;
                for row in &rows {
                    if row.try_get::<_, &str>(0)? == event_type {
                        schema = Some(row.try_get(1)?);
                    }
                }
                // Schemas are checked when registered; one that no longer
                // compiles (a library change) is skipped rather than blocking ingest.
                let compiled = schema.and_then(|s| jsonschema::validator_for(&s).ok()).map(Arc::new);
                self.cache.insert((tenant, event_type.clone()), compiled.clone()).await;
                found.push((event_type, compiled));
            }
        }
        Ok(found)
    }
}

/// Violations of `data`, each named by its JSON path under `field` (e.g. `data/amount`).
pub fn violations(validator: &jsonschema::Validator, field: &str, data: &serde_json::Value) -> Vec<FieldError> {
    validator
        .iter_errors(data)
        .take(20)
        .map(|error| {
            let path = error.instance_path().to_string();
            FieldError::new(format!("{field}{path}"), error.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn violations_are_named_by_their_json_path() {
        let validator = SchemaRegistry::compile(&json!({
            "type": "object",
            "required": ["amount"],
            "properties": {"amount": {"type": "integer", "minimum": 0}, "lines": {"type": "array", "items": {"type": "string"}}}
        }))
        .expect("schema");
        assert!(violations(&validator, "data", &json!({"amount": 3})).is_empty());
        let found = violations(&validator, "data", &json!({"amount": -1, "lines": ["a", 2]}));
        let fields: Vec<&str> = found.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"data/amount") && fields.contains(&"data/lines/1"), "{found:?}");
    }

    #[test]
    fn a_non_schema_is_refused() {
        assert!(SchemaRegistry::compile(&json!({"type": "no-such-type"})).is_err());
    }
}
