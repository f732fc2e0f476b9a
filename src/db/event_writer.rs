//! The batching writer. Conversation actors hand it their new events and snapshot; it commits
//! the work of many conversations in one transaction and tells each caller once its part is
//! durable. Each conversation has at most one write in flight (its actor waits for the result),
//! so batches running in parallel never touch the same conversation. A batch the database
//! refuses is split until the refused job is alone, so bad data fails only its own write.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Int4, Nullable, SmallInt, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::{mpsc, oneshot, Semaphore};
use uuid::Uuid;

use super::audit::{self, AuditEntry};
use super::conversations::Snapshot;
use super::events::EventRow;
use super::schema::{assignments, events};
use super::DbPool;
use crate::domain::AssignmentKind;
use crate::error::{AppError, AppResult};
use crate::ids::{ConversationId, OperatorId, TagId};
use crate::telemetry;

/// Jobs waiting beyond this many make callers wait: backpressure instead of unbounded memory.
const QUEUE_CAPACITY: usize = 16_384;

/// A change to the assignment history, applied in the same transaction as the events.
#[derive(Debug, Clone)]
pub enum AssignmentChange {
    /// Close the open assignment (if any) and, when `to` is given, open a new one.
    Reassign {
        to: Option<(OperatorId, AssignmentKind)>,
    },
    /// The assignee answered for the first time in this assignment.
    FirstResponse,
}

/// A tag put on or taken off the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagChange {
    Add(TagId),
    Remove(TagId),
}

/// Everything one Conversation actor commits at once.
#[derive(Debug, Clone)]
pub struct WriteJob {
    pub events: Vec<EventRow>,
    pub snapshot: Snapshot,
    pub assignment: Option<AssignmentChange>,
    pub audit: Vec<AuditEntry>,
    pub tag: Option<TagChange>,
    /// Telegram calls that deliver these events, committed with them.
    pub outbox: Vec<crate::telegram::outbox::NewCall>,
    /// Deadlines to set or clear with these events.
    pub deadlines: Vec<crate::automation::deadlines::Change>,
}

struct Pending {
    job: WriteJob,
    done: oneshot::Sender<AppResult<()>>,
}

#[derive(Clone)]
pub struct EventWriter {
    queue: mpsc::Sender<Pending>,
}

impl EventWriter {
    /// Starts the dispatcher on `arbiter`; it lives as long as any clone of the writer.
    pub fn start(
        arbiter: &actix::ArbiterHandle,
        pool: DbPool,
        concurrency: usize,
        max_batch: usize,
    ) -> EventWriter {
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        arbiter.spawn(dispatch(pool, rx, concurrency.max(1), max_batch.max(1)));
        EventWriter { queue }
    }

    /// Resolves once `job` is committed; with `Unavailable` if the database could not be used,
    /// or with a 4xx error if it refused the job's data (the same job would fail again).
    pub async fn commit(&self, job: WriteJob) -> AppResult<()> {
        let (done, result) = oneshot::channel();
        self.queue
            .send(Pending { job, done })
            .await
            .map_err(|_| AppError::Unavailable)?;
        result.await.map_err(|_| AppError::Unavailable)?
    }
}

/// Takes whatever is queued (up to `max_batch` events) whenever a transaction slot is free, so
/// batches grow with load and a lone message is written at once.
async fn dispatch(
    pool: DbPool,
    mut rx: mpsc::Receiver<Pending>,
    concurrency: usize,
    max_batch: usize,
) {
    let slots = Arc::new(Semaphore::new(concurrency));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut rows = first.job.events.len();
        let mut batch = vec![first];
        while rows < max_batch {
            match rx.try_recv() {
                Ok(next) => {
                    rows += next.job.events.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            commit_batch(&pool, batch).await;
            drop(slot);
        });
    }
}

type Done = oneshot::Sender<AppResult<()>>;

/// Commits a batch in one transaction. If the database refuses it, the batch is bisected until
/// each refused job is alone, so one conversation's bad data fails only its own write: every
/// job stays all-or-nothing, and each caller is answered exactly once.
async fn commit_batch(pool: &DbPool, batch: Vec<Pending>) {
    let (jobs, mut waiting): (Vec<WriteJob>, Vec<Option<Done>>) =
        batch.into_iter().map(|p| (p.job, Some(p.done))).unzip();
    let mut conn = match pool.get().await {
        Ok(conn) => conn,
        Err(e) => {
            metrics::counter!(telemetry::WRITE_FAILURES).increment(1);
            tracing::warn!(error = %e, jobs = jobs.len(), "event batch not committed");
            answer(&mut waiting, || Err(AppError::Unavailable));
            return;
        }
    };
    // Ranges still to write; the next one is last.
    let whole = 0..jobs.len();
    let mut todo = vec![whole];
    while let Some(range) = todo.pop() {
        let part = &jobs[range.clone()];
        let Err(e) = write_jobs(&mut conn, part).await else {
            let events: usize = part.iter().map(|j| j.events.len()).sum();
            metrics::counter!(telemetry::EVENTS_STORED).increment(events as u64);
            metrics::counter!(telemetry::WRITE_BATCHES).increment(1);
            answer(&mut waiting[range], || Ok(()));
            continue;
        };
        metrics::counter!(telemetry::WRITE_FAILURES).increment(1);
        if !crate::error::refused_data(&e) {
            // Nothing left in this batch can be written now; everyone retries.
            tracing::warn!(error = %e, jobs = jobs.len(), "event batch not committed");
            answer(&mut waiting, || Err(AppError::Unavailable));
            return;
        }
        if range.len() > 1 {
            tracing::info!(error = %e, jobs = range.len(), "event batch refused; bisecting");
            let middle = range.start + range.len() / 2;
            todo.push(middle..range.end);
            todo.push(range.start..middle);
            continue;
        }
        // A job alone: the refusal is its own (`AppError::from` logs the cause and decides
        // whether it is the client's fault or worth a retry).
        if let Some(done) = waiting[range.start].take() {
            let _ = done.send(Err(AppError::from(e)));
        }
    }
}

/// Sends `outcome` to every caller in `waiting` not yet answered.
fn answer(waiting: &mut [Option<Done>], outcome: impl Fn() -> AppResult<()>) {
    for done in waiting.iter_mut().filter_map(Option::take) {
        let _ = done.send(outcome());
    }
}

/// Writes `jobs` in one transaction.
async fn write_jobs(
    conn: &mut AsyncPgConnection,
    jobs: &[WriteJob],
) -> Result<(), diesel::result::Error> {
    let now = Utc::now();
    let rows: Vec<EventRow> = jobs.iter().flat_map(|j| j.events.iter().cloned()).collect();
    let snapshots: Vec<&Snapshot> = jobs.iter().map(|j| &j.snapshot).collect();
    let audit: Vec<AuditEntry> = jobs.iter().flat_map(|j| j.audit.iter().cloned()).collect();
    let tags: Vec<(ConversationId, TagChange)> = jobs
        .iter()
        .filter_map(|j| j.tag.map(|t| (j.snapshot.id, t)))
        .collect();
    let calls: Vec<crate::telegram::outbox::NewCall> =
        jobs.iter().flat_map(|j| j.outbox.iter().cloned()).collect();
    let deadlines: Vec<(ConversationId, crate::automation::deadlines::Change)> = jobs
        .iter()
        .flat_map(|j| j.deadlines.iter().map(|d| (j.snapshot.id, *d)))
        .collect();
    let changes: Vec<(ConversationId, &AssignmentChange)> = jobs
        .iter()
        .filter_map(|j| j.assignment.as_ref().map(|a| (j.snapshot.id, a)))
        .collect();
    conn.transaction::<(), diesel::result::Error, _>(async |conn| {
        if !rows.is_empty() {
            diesel::insert_into(events::table)
                .values(&rows)
                .execute(conn)
                .await?;
        }
        update_snapshots(conn, &snapshots).await?;
        for (conversation, change) in &changes {
            apply_assignment(conn, *conversation, change, now).await?;
        }
        for (conversation, change) in &tags {
            apply_tag(conn, *conversation, *change).await?;
        }
        audit::record(conn, &audit).await?;
        crate::telegram::outbox::insert(conn, &calls).await?;
        if !deadlines.is_empty() {
            crate::automation::deadlines::write(conn, &deadlines).await?;
        }
        Ok(())
    })
    .await
}

/// One UPDATE for every conversation in the batch, fed by parallel arrays.
async fn update_snapshots(
    conn: &mut AsyncPgConnection,
    snaps: &[&Snapshot],
) -> diesel::QueryResult<()> {
    let ids: Vec<Uuid> = snaps.iter().map(|s| s.id.0).collect();
    let groups: Vec<Uuid> = snaps.iter().map(|s| s.group_id.0).collect();
    let status: Vec<&str> = snaps.iter().map(|s| s.status.as_str()).collect();
    let priority: Vec<i16> = snaps.iter().map(|s| s.priority.as_i16()).collect();
    let level: Vec<i16> = snaps.iter().map(|s| s.level).collect();
    let assignee: Vec<Option<Uuid>> = snaps.iter().map(|s| s.assignee_id.map(|a| a.0)).collect();
    let times = |f: fn(&Snapshot) -> Option<DateTime<Utc>>| -> Vec<Option<DateTime<Utc>>> {
        snaps.iter().map(|s| f(s)).collect()
    };
    let last_seq: Vec<i64> = snaps.iter().map(|s| s.last_seq).collect();
    let unanswered: Vec<i32> = snaps.iter().map(|s| s.unanswered).collect();
    let visitor_read: Vec<i64> = snaps.iter().map(|s| s.visitor_read_seq).collect();
    let operator_read: Vec<i64> = snaps.iter().map(|s| s.operator_read_seq).collect();
    let updated: Vec<DateTime<Utc>> = snaps.iter().map(|s| s.updated_at).collect();
    let category: Vec<Option<&str>> = snaps.iter().map(|s| s.category.as_deref()).collect();
    let automation: Vec<serde_json::Value> = snaps
        .iter()
        .map(|s| serde_json::to_value(&s.automation).unwrap_or_default())
        .collect();
    diesel::sql_query(
        "UPDATE conversations AS c SET \
           status = v.status, priority = v.priority, level = v.level, assignee_id = v.assignee, \
           assigned_at = v.assigned_at, first_response_at = v.first_response_at, \
           resolved_at = v.resolved_at, closed_at = v.closed_at, last_seq = v.last_seq, \
           last_message_at = v.last_message_at, unanswered = v.unanswered, \
           visitor_read_seq = v.visitor_read, operator_read_seq = v.operator_read, \
           updated_at = v.updated_at, group_id = v.group_id, category = v.category, \
           automation = v.automation \
         FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                     $17, $18) \
           AS v(id, status, priority, level, assignee, assigned_at, first_response_at, \
                resolved_at, closed_at, last_seq, last_message_at, unanswered, visitor_read, \
                operator_read, updated_at, group_id, category, automation) \
         WHERE c.id = v.id",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
    .bind::<Array<Text>, _>(status)
    .bind::<Array<SmallInt>, _>(priority)
    .bind::<Array<SmallInt>, _>(level)
    .bind::<Array<Nullable<diesel::sql_types::Uuid>>, _>(assignee)
    .bind::<Array<Nullable<Timestamptz>>, _>(times(|s| s.assigned_at))
    .bind::<Array<Nullable<Timestamptz>>, _>(times(|s| s.first_response_at))
    .bind::<Array<Nullable<Timestamptz>>, _>(times(|s| s.resolved_at))
    .bind::<Array<Nullable<Timestamptz>>, _>(times(|s| s.closed_at))
    .bind::<Array<BigInt>, _>(last_seq)
    .bind::<Array<Nullable<Timestamptz>>, _>(times(|s| s.last_message_at))
    .bind::<Array<Int4>, _>(unanswered)
    .bind::<Array<BigInt>, _>(visitor_read)
    .bind::<Array<BigInt>, _>(operator_read)
    .bind::<Array<Timestamptz>, _>(updated)
    .bind::<Array<diesel::sql_types::Uuid>, _>(groups)
    .bind::<Array<Nullable<Text>>, _>(category)
    .bind::<Array<diesel::sql_types::Jsonb>, _>(automation)
    .execute(conn)
    .await
    .map(drop)
}

/// A tag deleted meanwhile is skipped rather than failing the whole batch.
async fn apply_tag(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
    change: TagChange,
) -> diesel::QueryResult<()> {
    use diesel::sql_types::Uuid as SqlUuid;
    match change {
        TagChange::Add(tag) => diesel::sql_query(
            "INSERT INTO conversation_tags (conversation_id, tag_id) \
             SELECT $1, id FROM tags WHERE id = $2 ON CONFLICT DO NOTHING",
        )
        .bind::<SqlUuid, _>(conversation.0)
        .bind::<SqlUuid, _>(tag.0)
        .execute(conn)
        .await
        .map(drop),
        TagChange::Remove(tag) => diesel::sql_query(
            "DELETE FROM conversation_tags WHERE conversation_id = $1 AND tag_id = $2",
        )
        .bind::<SqlUuid, _>(conversation.0)
        .bind::<SqlUuid, _>(tag.0)
        .execute(conn)
        .await
        .map(drop),
    }
}

async fn apply_assignment(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
    change: &AssignmentChange,
    now: DateTime<Utc>,
) -> diesel::QueryResult<()> {
    use diesel::{ExpressionMethods, QueryDsl};
    let open = assignments::table
        .filter(assignments::conversation_id.eq(conversation))
        .filter(assignments::unassigned_at.is_null());
    match change {
        AssignmentChange::Reassign { to } => {
            diesel::update(open)
                .set(assignments::unassigned_at.eq(now))
                .execute(conn)
                .await?;
            if let Some((operator, kind)) = to {
                diesel::insert_into(assignments::table)
                    .values((
                        assignments::conversation_id.eq(conversation),
                        assignments::operator_id.eq(operator),
                        assignments::kind.eq(kind),
                        assignments::assigned_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
            }
        }
        AssignmentChange::FirstResponse => {
            diesel::update(open.filter(assignments::first_response_at.is_null()))
                .set(assignments::first_response_at.eq(now))
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}
