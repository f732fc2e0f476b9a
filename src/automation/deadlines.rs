//! Durable timers. A conversation's deadlines are rows (`deadlines`), written in the same
//! transaction as the events that set them and deleted by the one that fires them, so a
//! deadline that passed while the server was down fires once after it starts. Nothing runs
//! per conversation while it waits: one scheduler sleeps until the earliest row is due.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::deadlines;
use crate::ids::ConversationId;

/// What falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Open with no message for `auto_close_idle_hours`: closed, the customer told.
    Idle,
    /// Waiting, and the customer never wrote: closed after `abandoned_close_hours`.
    Abandoned,
    /// Resolved and the reopen window passed: closed.
    ReopenWindow,
    /// No first reply within the SLA: escalated.
    FirstResponse,
    /// Run automation for a conversation's first message, which was stored when it opened.
    Automate,
    /// Nothing to do but to set the conversation's deadlines (after an upgrade).
    Review,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Idle => "idle",
            Kind::Abandoned => "abandoned",
            Kind::ReopenWindow => "reopen_window",
            Kind::FirstResponse => "first_response",
            Kind::Automate => "automate",
            Kind::Review => "review",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "idle" => Kind::Idle,
            "abandoned" => Kind::Abandoned,
            "reopen_window" => Kind::ReopenWindow,
            "first_response" => Kind::FirstResponse,
            "automate" => Kind::Automate,
            "review" => Kind::Review,
            _ => return None,
        })
    }
}

/// A conversation's deadlines as stored.
pub type Armed = HashMap<Kind, DateTime<Utc>>;

/// A change to a conversation's rows, made with its next write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    Set(Kind, DateTime<Utc>),
    Clear(Kind),
}

/// What to write so the stored deadlines serve `wanted`. A stored deadline later than wanted is
/// brought forward; one earlier than wanted is left alone while it is in the future (it fires
/// early, finds nothing due and is moved then), so busy conversations write nothing here.
pub fn changes(armed: &Armed, wanted: &Armed, now: DateTime<Utc>) -> Vec<Change> {
    let mut out = Vec::new();
    for (kind, due) in wanted {
        // As PostgreSQL stores it (microseconds), so a stored time compares equal.
        let due = &due.trunc_subsecs(6);
        match armed.get(kind) {
            Some(at) if *at <= *due && *at > now => {}
            Some(at) if at == due => {}
            _ => out.push(Change::Set(*kind, *due)),
        }
    }
    for kind in armed.keys() {
        if !wanted.contains_key(kind) {
            out.push(Change::Clear(*kind));
        }
    }
    out.sort_by_key(|c| match c {
        Change::Set(k, _) | Change::Clear(k) => *k,
    });
    out
}

pub fn apply(armed: &mut Armed, changes: &[Change]) {
    for change in changes {
        match change {
            Change::Set(kind, due) => {
                armed.insert(*kind, *due);
            }
            Change::Clear(kind) => {
                armed.remove(kind);
            }
        }
    }
}

pub async fn load(conn: &mut AsyncPgConnection, id: ConversationId) -> QueryResult<Armed> {
    let rows: Vec<(String, DateTime<Utc>)> = deadlines::table
        .filter(deadlines::conversation_id.eq(id))
        .select((deadlines::kind, deadlines::due_at))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(k, due)| Kind::parse(&k).map(|k| (k, due)))
        .collect())
}

/// Writes the changes of several conversations (inside the event writer's transaction).
pub async fn write(
    conn: &mut AsyncPgConnection,
    changes: &[(ConversationId, Change)],
) -> QueryResult<()> {
    let (mut set_ids, mut set_kinds, mut set_dues) = (Vec::new(), Vec::new(), Vec::new());
    let (mut clear_ids, mut clear_kinds) = (Vec::new(), Vec::new());
    for (id, change) in changes {
        match change {
            Change::Set(kind, due) => {
                set_ids.push(id.0);
                set_kinds.push(kind.as_str());
                set_dues.push(*due);
            }
            Change::Clear(kind) => {
                clear_ids.push(id.0);
                clear_kinds.push(kind.as_str());
            }
        }
    }
    if !clear_ids.is_empty() {
        diesel::sql_query(
            "DELETE FROM deadlines d USING unnest($1, $2) AS v(id, kind) \
             WHERE d.conversation_id = v.id AND d.kind = v.kind",
        )
        .bind::<Array<diesel::sql_types::Uuid>, _>(clear_ids)
        .bind::<Array<Text>, _>(clear_kinds)
        .execute(conn)
        .await?;
    }
    if !set_ids.is_empty() {
        diesel::sql_query(
            "INSERT INTO deadlines (conversation_id, kind, due_at) \
             SELECT * FROM unnest($1, $2, $3) \
             ON CONFLICT (conversation_id, kind) DO UPDATE SET due_at = EXCLUDED.due_at",
        )
        .bind::<Array<diesel::sql_types::Uuid>, _>(set_ids)
        .bind::<Array<Text>, _>(set_kinds)
        .bind::<Array<Timestamptz>, _>(set_dues)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Rows of kinds this version does not know (left by a newer one) are dropped.
pub async fn drop_unknown(conn: &mut AsyncPgConnection, id: ConversationId) -> QueryResult<()> {
    let known: Vec<&str> = [
        Kind::Idle,
        Kind::Abandoned,
        Kind::ReopenWindow,
        Kind::FirstResponse,
        Kind::Automate,
        Kind::Review,
    ]
    .iter()
    .map(|k| k.as_str())
    .collect();
    diesel::delete(
        deadlines::table
            .filter(deadlines::conversation_id.eq(id))
            .filter(deadlines::kind.ne_all(known)),
    )
    .execute(conn)
    .await
    .map(drop)
}

/// Deadlines due at `now`, earliest first.
pub async fn due(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<(ConversationId, String, DateTime<Utc>)>> {
    deadlines::table
        .filter(deadlines::due_at.le(now))
        .order(deadlines::due_at)
        .select((
            deadlines::conversation_id,
            deadlines::kind,
            deadlines::due_at,
        ))
        .limit(limit)
        .load(conn)
        .await
}

/// A deadline that could not be handled is moved to `later` (unless it changed meanwhile).
pub async fn postpone(
    conn: &mut AsyncPgConnection,
    id: ConversationId,
    kind: &str,
    due_at: DateTime<Utc>,
    later: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(
        deadlines::table
            .filter(deadlines::conversation_id.eq(id))
            .filter(deadlines::kind.eq(kind))
            .filter(deadlines::due_at.eq(due_at)),
    )
    .set(deadlines::due_at.eq(later))
    .execute(conn)
    .await
    .map(drop)
}

/// How many deadlines are stored.
pub async fn count(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    deadlines::table.count().get_result(conn).await
}

/// The earliest deadline, if any.
pub async fn next(conn: &mut AsyncPgConnection) -> QueryResult<Option<DateTime<Utc>>> {
    deadlines::table
        .select(diesel::dsl::min(deadlines::due_at))
        .first(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn only_what_must_move_is_written() {
        let now = Utc::now().trunc_subsecs(6);
        let h = |n: i64| now + Duration::hours(n);
        let armed: Armed = [(Kind::Idle, h(24)), (Kind::FirstResponse, h(1))].into();
        // A new message pushes the idle deadline later: nothing is written.
        let wanted: Armed = [(Kind::Idle, h(25)), (Kind::FirstResponse, h(1))].into();
        assert!(changes(&armed, &wanted, now).is_empty());
        // An earlier deadline is brought forward; one no longer wanted is cleared.
        let wanted: Armed = [(Kind::Idle, h(2))].into();
        assert_eq!(
            changes(&armed, &wanted, now),
            vec![
                Change::Set(Kind::Idle, h(2)),
                Change::Clear(Kind::FirstResponse)
            ]
        );
        // A stored deadline that fell due but is wanted later is moved.
        let armed: Armed = [(Kind::Idle, h(-1))].into();
        let wanted: Armed = [(Kind::Idle, h(3))].into();
        assert_eq!(
            changes(&armed, &wanted, now),
            vec![Change::Set(Kind::Idle, h(3))]
        );
    }
}
