//! The one scheduler: it sleeps until the earliest stored deadline (or until woken by an earlier
//! one), then hands each due deadline to its conversation's actor, which decides and commits
//! what it means. An actor runs only while its deadline is handled.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use super::deadlines::{self, Kind};
use super::Automation;
use crate::actors::conversation::DeadlineDue;
use crate::actors::registry::ConversationRegistry;
use crate::clock::SharedClock;
use crate::db::DbPool;
use crate::error::{AppError, AppResult};
use crate::ids::ConversationId;
use chrono::{DateTime, Utc};

/// Deadlines read per query, and handled at once.
const BATCH: i64 = 1000;
const IN_FLIGHT: usize = 64;
/// The longest sleep: the clock is checked at least this often (a manual clock in tests, a
/// system clock that jumps).
const MAX_SLEEP: Duration = Duration::from_secs(30);
/// An actor that has not handled its deadline by then is tried again later; the other
/// deadlines do not wait for it.
const HANDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// A deadline its actor could not handle is tried again this much later.
const RETRY_FAILED_SECS: i64 = 60;
/// The shortest pause between two rounds.
const MIN_PAUSE: Duration = Duration::from_millis(20);
/// After a failed round, the wait before the next.
const RETRY: Duration = Duration::from_secs(1);

/// A deadline its actor did not handle: (conversation, kind as stored, when it was due).
type Unhandled = (ConversationId, String, DateTime<Utc>);

pub struct Scheduler {
    pool: DbPool,
    registry: Arc<ConversationRegistry>,
    clock: SharedClock,
    automation: Arc<Automation>,
    /// One round at a time (the loop's, or a test's).
    round: tokio::sync::Mutex<()>,
}

impl Scheduler {
    pub fn new(
        pool: DbPool,
        registry: Arc<ConversationRegistry>,
        clock: SharedClock,
        automation: Arc<Automation>,
    ) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            pool,
            registry,
            clock,
            automation,
            round: tokio::sync::Mutex::new(()),
        })
    }

    /// Fires every deadline due now; returns how many were handled. A deadline its actor
    /// could not handle stays and is tried in the next round.
    pub async fn fire_due(&self) -> AppResult<usize> {
        let _round = self.round.lock().await;
        let now = self.clock.now();
        let mut handled = 0;
        loop {
            let due = {
                let mut conn = self.pool.get().await?;
                deadlines::due(&mut conn, now, BATCH).await?
            };
            let total = due.len();
            let full = total as i64 == BATCH;
            let results: Vec<Result<(), Unhandled>> =
                stream::iter(due)
                    .map(|(id, raw, due_at)| {
                        let addr = self.registry.get_or_start(id);
                        async move {
                            let kind = Kind::parse(&raw);
                            let outcome = match addr
                                .send(DeadlineDue { kind, due_at })
                                .timeout(HANDLE_TIMEOUT)
                                .await
                            {
                                Ok(result) => result,
                                Err(_) => Err(AppError::Unavailable),
                            };
                            outcome.map_err(|e| {
                                tracing::warn!(conversation = %id, kind = %raw, error = %e, "a deadline was not handled");
                                (id, raw, due_at)
                            })
                        }
                    })
                    .buffer_unordered(IN_FLIGHT)
                    .collect()
                    .await;
            let failed: Vec<_> = results.into_iter().filter_map(Result::err).collect();
            let ok = total - failed.len();
            handled += ok;
            metrics::counter!(crate::telemetry::DEADLINES_FIRED).increment(ok as u64);
            if !failed.is_empty() {
                // Tried again a minute later, so one that keeps failing holds up nothing.
                let mut conn = self.pool.get().await?;
                let later = now + chrono::Duration::seconds(RETRY_FAILED_SECS);
                for (id, kind, due_at) in &failed {
                    deadlines::postpone(&mut conn, *id, kind, *due_at, later).await?;
                }
                return Err(AppError::Unavailable);
            }
            if !full {
                return Ok(handled);
            }
        }
    }

    /// Runs until the process ends.
    pub async fn run(self: Arc<Self>) {
        // Re-arming after a start is reading when the earliest deadline is due: nothing is
        // loaded per deadline.
        let started = std::time::Instant::now();
        if let Ok(mut conn) = self.pool.get().await {
            if let (Ok(pending), Ok(next)) = (
                deadlines::count(&mut conn).await,
                deadlines::next(&mut conn).await,
            ) {
                tracing::info!(
                    pending,
                    next = ?next,
                    took_ms = started.elapsed().as_millis() as u64,
                    "timers armed"
                );
            }
        }
        loop {
            self.automation.timers.sleeping_until(None);
            let failed = self.fire_due().await.is_err();
            let next = match self.pool.get().await {
                Ok(mut conn) => deadlines::next(&mut conn).await.ok().flatten(),
                Err(_) => None,
            };
            self.automation.timers.sleeping_until(next);
            let now = self.clock.now();
            let mut sleep = next
                .map(|due| (due - now).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP);
            // Failures, or rows still due after a round (a moment's work, or rows an actor did
            // not move): a pause, never a spin.
            if failed {
                sleep = sleep.max(RETRY);
            }
            sleep = sleep.max(MIN_PAUSE);
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = self.automation.timers.notify.notified() => {}
            }
        }
    }
}
