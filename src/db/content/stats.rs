//! Statistics over a period `[from, to)`, computed by PostgreSQL aggregates: volume by status
//! and channel, first response and resolution times, satisfaction (mean rating and CSAT, the
//! share of ratings that are 4 or 5), and per-operator and per-group figures.

use chrono::{DateTime, Utc};
use diesel::sql_types::{
    BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::domain::{Channel, ConversationStatus, Presence, Role};
use crate::ids::{GroupId, OperatorId};

/// How many conversations created in the period have a given status and channel now.
#[derive(Debug, Clone, QueryableByName)]
pub struct VolumeRow {
    #[diesel(sql_type = Text)]
    pub status: ConversationStatus,
    #[diesel(sql_type = Text)]
    pub channel: Channel,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// Durations in seconds over the conversations created in the period. Percentiles are NULL
/// when nothing was measured.
#[derive(Debug, Clone, QueryableByName)]
pub struct TimingRow {
    #[diesel(sql_type = BigInt)]
    pub first_response_count: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub first_response_median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub first_response_p90: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub resolution_count: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub resolution_median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub resolution_p90: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub rated: i64,
    /// The mean rating.
    #[diesel(sql_type = Nullable<Double>)]
    pub csat: Option<f64>,
    /// Ratings of 4 or 5, and their share of the ratings.
    #[diesel(sql_type = BigInt)]
    pub satisfied: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub csat_share: Option<f64>,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct OperatorStatsRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: OperatorId,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub role: Role,
    #[diesel(sql_type = Text)]
    pub status: Presence,
    #[diesel(sql_type = Bool)]
    pub deleted: bool,
    #[diesel(sql_type = Integer)]
    pub max_concurrent: i32,
    #[diesel(sql_type = BigInt)]
    pub load: i64,
    #[diesel(sql_type = BigInt)]
    pub handled: i64,
    #[diesel(sql_type = BigInt)]
    pub rated: i64,
    /// The mean rating.
    #[diesel(sql_type = Nullable<Double>)]
    pub csat: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub satisfied: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub csat_share: Option<f64>,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct GroupStatsRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: GroupId,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Bool)]
    pub deleted: bool,
    #[diesel(sql_type = BigInt)]
    pub handled: i64,
    #[diesel(sql_type = BigInt)]
    pub rated: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub average: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub satisfied: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub csat_share: Option<f64>,
}

pub async fn volume(
    conn: &mut AsyncPgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> diesel::QueryResult<Vec<VolumeRow>> {
    diesel::sql_query(
        "SELECT status, channel, count(*) AS n
         FROM conversations
         WHERE created_at >= $1 AND created_at < $2
           -- a widget session nobody wrote in is not a conversation (yet)
           AND NOT (status = 'pending' AND last_message_at IS NULL)
         GROUP BY status, channel",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .load(conn)
    .await
}

// Ordered-set aggregates skip NULL inputs, so unanswered and unresolved conversations drop
// out of the percentiles on their own while `count(column)` counts the measured ones.
pub async fn timings(
    conn: &mut AsyncPgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> diesel::QueryResult<TimingRow> {
    diesel::sql_query(
        "WITH d AS (
             SELECT extract(epoch FROM first_response_at - created_at)::float8 AS first_response,
                    extract(epoch FROM resolved_at - created_at)::float8 AS resolution,
                    rating
             FROM conversations
             WHERE created_at >= $1 AND created_at < $2
         )
         SELECT count(first_response) AS first_response_count,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response) AS first_response_median,
                percentile_cont(0.9) WITHIN GROUP (ORDER BY first_response) AS first_response_p90,
                count(resolution) AS resolution_count,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution) AS resolution_median,
                percentile_cont(0.9) WITHIN GROUP (ORDER BY resolution) AS resolution_p90,
                count(rating) AS rated,
                avg(rating)::float8 AS csat,
                count(*) FILTER (WHERE rating >= 4) AS satisfied,
                (count(*) FILTER (WHERE rating >= 4))::float8 / nullif(count(rating), 0) AS csat_share
         FROM d",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .get_result(conn)
    .await
}

// A conversation counts as handled by its assignee when it was resolved or closed in the
// period: resolving and closing keep `assignee_id`, so it still names who finished it. Live
// operators are always listed; deleted ones only when they handled something in the period.
pub async fn per_operator(
    conn: &mut AsyncPgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> diesel::QueryResult<Vec<OperatorStatsRow>> {
    diesel::sql_query(
        "WITH handled AS (
             SELECT assignee_id, count(*) AS handled, count(rating) AS rated,
                    avg(rating)::float8 AS csat,
                    count(*) FILTER (WHERE rating >= 4) AS satisfied
             FROM conversations
             WHERE assignee_id IS NOT NULL
               AND ((resolved_at >= $1 AND resolved_at < $2)
                    OR (closed_at >= $1 AND closed_at < $2))
             GROUP BY assignee_id
         ), load AS (
             SELECT assignee_id, count(*) AS load
             FROM conversations
             WHERE status = 'active' AND assignee_id IS NOT NULL
             GROUP BY assignee_id
         )
         SELECT o.id, o.name, o.role, o.status, o.deleted_at IS NOT NULL AS deleted,
                o.max_concurrent,
                coalesce(l.load, 0) AS load,
                coalesce(h.handled, 0) AS handled,
                coalesce(h.rated, 0) AS rated,
                h.csat,
                coalesce(h.satisfied, 0) AS satisfied,
                h.satisfied::float8 / nullif(h.rated, 0) AS csat_share
         FROM operators o
         LEFT JOIN handled h ON h.assignee_id = o.id
         LEFT JOIN load l ON l.assignee_id = o.id
         WHERE o.deleted_at IS NULL OR h.handled IS NOT NULL
         ORDER BY lower(o.name), o.id",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .load(conn)
    .await
}

// As per operator: a conversation counts for its group when it was resolved or closed in the
// period (ratings come after that). Live groups are always listed, the default first; deleted
// ones only when they handled something in the period.
pub async fn per_group(
    conn: &mut AsyncPgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> diesel::QueryResult<Vec<GroupStatsRow>> {
    diesel::sql_query(
        "WITH handled AS (
             SELECT group_id, count(*) AS handled, count(rating) AS rated,
                    avg(rating)::float8 AS average,
                    count(*) FILTER (WHERE rating >= 4) AS satisfied
             FROM conversations
             WHERE (resolved_at >= $1 AND resolved_at < $2)
                OR (closed_at >= $1 AND closed_at < $2)
             GROUP BY group_id
         )
         SELECT g.id, g.name, g.deleted_at IS NOT NULL AS deleted,
                coalesce(h.handled, 0) AS handled,
                coalesce(h.rated, 0) AS rated,
                h.average,
                coalesce(h.satisfied, 0) AS satisfied,
                h.satisfied::float8 / nullif(h.rated, 0) AS csat_share
         FROM groups g
         LEFT JOIN handled h ON h.group_id = g.id
         WHERE g.deleted_at IS NULL OR h.handled IS NOT NULL
         ORDER BY g.is_default DESC, lower(g.name), g.id",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .load(conn)
    .await
}
