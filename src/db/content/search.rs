//! Full-text search over message and note events, through the generated `events.search`
//! tsvector and its GIN index, with the operator visibility rule applied in SQL.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::conversations::Visibility;
use crate::domain::{Author, EventKind};
use crate::ids::ConversationId;

/// Where the next page starts: results are ordered newest first, ties broken by
/// conversation id and seq, so the position is that triple of the last result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchCursor {
    pub at: DateTime<Utc>,
    pub conversation_id: ConversationId,
    pub seq: i64,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct SearchHit {
    #[diesel(sql_type = SqlUuid)]
    pub conversation_id: ConversationId,
    #[diesel(sql_type = Text)]
    pub ticket: String,
    #[diesel(sql_type = Text)]
    pub alias: String,
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub kind: EventKind,
    #[diesel(sql_type = Text)]
    pub author: Author,
    #[diesel(sql_type = Text)]
    pub author_name: String,
    #[diesel(sql_type = Text)]
    pub snippet: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

// `kind IN ('message', 'note')` is spelled exactly as in the partial GIN index's predicate so
// the planner can use it. 'simple' matches how the column is generated: no stemming, no stop
// words, so Russian and English are found alike. The snippet carries no markup (ts_headline's
// default `<b>` would have the panel render customer text as HTML).
const SEARCH_SQL: &str = "\
SELECT e.conversation_id, c.ticket, ct.alias, e.seq, e.kind, e.author, e.author_name,
       ts_headline('simple', e.body, q.query,
                   'StartSel=\"\", StopSel=\"\", MaxWords=35, MinWords=15') AS snippet,
       e.created_at
FROM websearch_to_tsquery('simple', $1) AS q(query)
JOIN events e ON e.search @@ q.query
JOIN conversations c ON c.id = e.conversation_id
JOIN contacts ct ON ct.id = c.contact_id
WHERE e.kind IN ('message', 'note')
  AND c.deleted_at IS NULL
  AND ($2::uuid IS NULL OR c.status = 'pending' OR c.assignee_id = $2::uuid)
  AND ($3::timestamptz IS NULL
       OR (e.created_at, e.conversation_id, e.seq) < ($3::timestamptz, $4::uuid, $5::bigint))
ORDER BY e.created_at DESC, e.conversation_id DESC, e.seq DESC
LIMIT $6";

/// Events matching the web-search style query `q` that the operator may see, newest first.
pub async fn search(
    conn: &mut AsyncPgConnection,
    q: &str,
    visibility: Visibility,
    cursor: Option<SearchCursor>,
    limit: i64,
) -> diesel::QueryResult<Vec<SearchHit>> {
    // An agent sees the queue and their own conversations; `None` means everything.
    let agent: Option<Uuid> = match visibility {
        Visibility::All => None,
        Visibility::Agent(me) => Some(me.0),
    };
    diesel::sql_query(SEARCH_SQL)
        .bind::<Text, _>(q)
        .bind::<Nullable<SqlUuid>, _>(agent)
        .bind::<Nullable<Timestamptz>, _>(cursor.map(|c| c.at))
        .bind::<Nullable<SqlUuid>, _>(cursor.map(|c| c.conversation_id.0))
        .bind::<Nullable<BigInt>, _>(cursor.map(|c| c.seq))
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await
}
