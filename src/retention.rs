//! Retention: closed conversations are deleted, with everything that hangs off them, once they
//! have been closed for `retention_days`; a contact left with no conversation goes too. Runs
//! hourly in the server (when `retention_days` > 0) and once from `switchboard purge`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::{privacy, DbPool};
use crate::error::AppResult;

/// How often the server purges.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(3600);
/// Conversations deleted per transaction: a long purge never holds many locks for long.
const BATCH: i64 = 500;

/// Deletes every conversation closed more than `days` days before `now` (0 deletes nothing),
/// in batches of `BATCH`, each its own transaction; how many were deleted.
pub async fn purge(pool: &DbPool, now: DateTime<Utc>, days: u32) -> AppResult<u64> {
    if days == 0 {
        return Ok(0);
    }
    let cutoff = now - chrono::Duration::days(i64::from(days));
    let mut total: u64 = 0;
    loop {
        let mut conn = pool.get().await?;
        let purged = privacy::purge_closed_before(&mut conn, cutoff, BATCH).await?;
        total += purged as u64;
        if (purged as i64) < BATCH {
            if total > 0 {
                privacy::audit_purge(&mut conn, total, days, now).await?;
            }
            return Ok(total);
        }
    }
}

/// Purges now and then every `PURGE_INTERVAL`, when `retention_days` is set. A failed run
/// (the database away) is logged and tried again at the next one.
pub fn spawn(pool: DbPool, clock: SharedClock, config: Arc<Config>) {
    let days = config.retention_days;
    if days == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match purge(&pool, clock.now(), days).await {
                Ok(0) => tracing::debug!(retention_days = days, "retention: nothing to purge"),
                Ok(purged) => tracing::info!(
                    purged,
                    retention_days = days,
                    "retention: closed conversations purged"
                ),
                Err(e) => tracing::warn!(error = %e, "retention purge failed; retried next hour"),
            }
        }
    });
}
