//! `GET /search`: full-text search over messages and notes, showing each operator only what
//! they may see (agents: the queue and their own conversations).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::params;
use crate::auth::OperatorIdentity;
use crate::db::content::search::{self, SearchCursor, SearchHit};
use crate::db::conversations::Visibility;
use crate::domain::{Author, EventKind};
use crate::error::{ApiError, AppError, AppResult};
use crate::http::auth::AuthOperator;
use crate::http::AppState;
use crate::ids::ConversationId;
use crate::validate;

const MAX_QUERY_CHARS: usize = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to find, web-search style: `refund card` (both), `"card declined"` (phrase),
    /// `refund or chargeback`, `-paypal` (without). Required, at most 200 characters.
    pub q: Option<String>,
    /// 1 to 100, default 50.
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub before: Option<String>,
}

/// One matching message or note.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    pub conversation_id: ConversationId,
    pub ticket: String,
    /// The customer's alias, e.g. `User-7KQ2MX`.
    pub alias: String,
    pub seq: i64,
    /// `message` or `note`.
    pub kind: EventKind,
    pub author: Author,
    /// The author's display name.
    pub name: String,
    /// The text around the matches, plain (no markup).
    pub snippet: String,
    pub at: DateTime<Utc>,
}

impl From<SearchHit> for SearchResult {
    fn from(hit: SearchHit) -> Self {
        SearchResult {
            conversation_id: hit.conversation_id,
            ticket: hit.ticket,
            alias: hit.alias,
            seq: hit.seq,
            kind: hit.kind,
            author: hit.author,
            name: hit.author_name,
            snippet: hit.snippet,
            at: hit.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    /// Newest first.
    pub items: Vec<SearchResult>,
    /// Pass as `before` for the next page; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

fn visibility(op: &OperatorIdentity) -> Visibility {
    if op.role.sees_all() {
        Visibility::All
    } else {
        Visibility::Agent(op.id)
    }
}

fn encode_cursor(c: &SearchCursor) -> String {
    params::encode_cursor(&[
        c.at.timestamp_micros().to_string(),
        c.conversation_id.to_string(),
        c.seq.to_string(),
    ])
}

fn decode_cursor(raw: &str) -> AppResult<SearchCursor> {
    let parts = params::decode_cursor("before", raw, 3)?;
    let bad = || AppError::invalid("before", "before is not a cursor this server issued");
    let micros: i64 = parts[0].parse().map_err(|_| bad())?;
    Ok(SearchCursor {
        at: DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
        conversation_id: parts[1].parse().map_err(|_| bad())?,
        seq: parts[2].parse().map_err(|_| bad())?,
    })
}

fn valid_query(q: Option<&str>) -> AppResult<&str> {
    let q = q.map(str::trim).unwrap_or_default();
    validate::text("q", q)?;
    if q.is_empty() {
        return Err(AppError::invalid(
            "q",
            "q (the words to search for) is required",
        ));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(AppError::invalid(
            "q",
            format!("q must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    Ok(q)
}

/// `GET /api/v1/search?q=&limit=&before=`
#[utoipa::path(
    get,
    path = "/api/v1/search",
    tag = "search",
    params(SearchQuery),
    responses(
        (status = 200, description = "Matching messages and notes the operator may see, newest first", body = SearchPage),
        (status = 400, description = "Malformed query string", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 422, description = "Missing or too long `q`, bad `limit` or `before`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn search(
    state: web::Data<AppState>,
    auth: AuthOperator,
    query: web::Query<SearchQuery>,
) -> AppResult<HttpResponse> {
    let q = valid_query(query.q.as_deref())?;
    let limit = params::limit(query.limit)?;
    let cursor = query.before.as_deref().map(decode_cursor).transpose()?;
    let mut conn = state.pool.get().await?;
    let hits = search::search(&mut conn, q, visibility(&auth.operator), cursor, limit).await?;
    let next = (hits.len() as i64 == limit)
        .then(|| {
            hits.last().map(|h| {
                encode_cursor(&SearchCursor {
                    at: h.created_at,
                    conversation_id: h.conversation_id,
                    seq: h.seq,
                })
            })
        })
        .flatten();
    let items = hits.into_iter().map(SearchResult::from).collect();
    Ok(HttpResponse::Ok().json(SearchPage { items, next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_required_and_bounded() {
        assert_eq!(valid_query(Some(" оплата ")).unwrap(), "оплата");
        assert_eq!(valid_query(None).unwrap_err().field(), Some("q"));
        assert_eq!(valid_query(Some("  ")).unwrap_err().field(), Some("q"));
        assert!(valid_query(Some(&"я".repeat(201))).is_err());
        assert_eq!(valid_query(Some("a\0b")).unwrap_err().field(), Some("q"));
    }

    #[test]
    fn cursors_round_trip() {
        let c = SearchCursor {
            at: DateTime::from_timestamp_micros(1_795_000_000_123_456).unwrap(),
            conversation_id: ConversationId::new(),
            seq: 7,
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)).unwrap(), c);
        assert_eq!(decode_cursor("xyz").unwrap_err().field(), Some("before"));
    }
}
