//! Monthly partitions of `events`, created ahead of the events that need
//! them: at start-up and once a day, this month and the next `AHEAD` - 1.
//! Rows outside every partition still land in `events_default`; creating a
//! month that already has rows there fails, which is logged, not fatal.

use std::time::Duration;

use signalops_platform::postgres::Pool;
use signalops_platform::shutdown::CancellationToken;

/// Months covered from the current one on.
pub const AHEAD: i32 = 3;

pub async fn ensure(pool: &Pool) -> anyhow::Result<i32> {
    let client = pool.get().await?;
    let row = client.query_one("SELECT ensure_event_partitions(date_trunc('month', now())::date, $1)", &[&AHEAD]).await?;
    Ok(row.try_get(0)?)
}

/// Runs `ensure` now and daily until `stop`.
pub fn spawn_maintenance(pool: Pool, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(24 * 3600));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => match ensure(&pool).await {
                    Ok(created) if created > 0 => tracing::info!(created, "created monthly events partitions"),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(error = %format!("{error:#}"), "could not create monthly events partitions; rows go to events_default"),
                },
            }
        }
    });
}
