//! The read side of the events log (issue 5): the `events` read model and
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

pub mod events;
pub mod stats;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(events::list_events).service(events::get_event).service(stats::event_type_stats);
}
