//! The read side of the events log: the `events` read model and
//! hourly type counts the projector keeps, queried per tenant.
//!
//! Promises, and why they hold:
//! - **Only the caller's tenant.** Every query runs in a transaction whose
//!   `app.tenant_id` is the caller's; row-level security (FORCE) filters the
//!   rows, whatever the SQL says.
//! - **Stable pages.** Lists are ordered by the unique `(time, id)`, newest
//!   first; the cursor is the last row's key, so pages never repeat or skip
//!   a row, and events arriving meanwhile (newer than the first page) do not
//!   shift later pages.
//! - **One read model at a time.** Each query's transaction first points its
//!   `search_path` at the schema of the `serving` version in `read_models`,
//!   so `signalctl projections promote` (one UPDATE) switches every reader
//!   at once, and no query mixes two versions.

pub mod events;
pub mod stats;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(events::list_events).service(events::get_event).service(stats::event_type_stats);
}

/// Points this transaction at the serving read model's schema.
pub(crate) async fn use_serving_read_model<C: tokio_postgres::GenericClient>(tx: &C) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "SELECT set_config('search_path', \
             coalesce((SELECT quote_ident(schema_name) FROM read_models WHERE state = 'serving'), 'public') || ', public', true)",
        &[],
    )
    .await?;
    Ok(())
}
