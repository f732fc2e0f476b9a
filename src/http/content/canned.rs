//! `/canned-responses`: reply templates with a shortcut and a language. Every operator reads
//! and searches them; admins create, change and delete them, each change audited in the same
//! transaction.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::db_errors::{clash, missing};
use crate::db::audit::{self, AuditEntry};
use crate::db::content::canned::{self, CannedChanges, CannedFilter, CannedRow, NewCanned};
use crate::domain::Role;
use crate::error::{ApiError, AppError, AppResult};
use crate::http::auth::AuthOperator;
use crate::http::json::Json;
use crate::http::AppState;
use crate::ids::CannedId;
use crate::validate;

const MAX_SHORTCUT_CHARS: usize = 32;
const MAX_TITLE_CHARS: usize = 100;
const DEFAULT_LANGUAGE: &str = "en";
const SHORTCUT_EXISTS: &str = "a canned response with this shortcut exists in this language";

/// A reply template operators insert by typing `/shortcut`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CannedResponse {
    pub id: CannedId,
    /// Lowercase letters, digits, `_` and `-`, without the leading `/`.
    pub shortcut: String,
    pub language: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<CannedRow> for CannedResponse {
    fn from(row: CannedRow) -> Self {
        CannedResponse {
            id: row.id,
            shortcut: row.shortcut,
            language: row.language,
            title: row.title,
            body: row.body,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CannedList {
    /// Ordered by shortcut, then language.
    pub items: Vec<CannedResponse>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CannedQuery {
    /// Only responses in this language.
    pub language: Option<String>,
    /// A prefix of the shortcut (a leading `/` is ignored) or of the title, ignoring case.
    pub q: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewCannedRequest {
    /// 1 to 32 of `a-z 0-9 _ -`; stored lowercase, a leading `/` is dropped. Unique per language.
    pub shortcut: String,
    /// A language tag such as `en` or `ru`; `en` when absent.
    #[serde(default)]
    pub language: Option<String>,
    /// 1 to 100 characters.
    pub title: String,
    /// The text inserted into the reply, at most the server's message limit (2000 by default).
    pub body: String,
}

/// Only the fields present change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CannedPatch {
    #[serde(default)]
    pub shortcut: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
}

fn valid_shortcut(raw: &str) -> AppResult<String> {
    let shortcut = raw.trim();
    // Operators think of shortcuts as what they type, slash included.
    let shortcut = shortcut
        .strip_prefix('/')
        .unwrap_or(shortcut)
        .to_lowercase();
    let chars = shortcut.chars().count();
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    if chars == 0 || chars > MAX_SHORTCUT_CHARS || !shortcut.chars().all(allowed) {
        return Err(AppError::invalid(
            "shortcut",
            format!("shortcut must be 1 to {MAX_SHORTCUT_CHARS} of a-z, 0-9, '_' and '-'"),
        ));
    }
    Ok(shortcut)
}

fn valid_language(raw: &str) -> AppResult<String> {
    let language = raw.trim().to_ascii_lowercase();
    let ok = (2..=10).contains(&language.len())
        && language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(language)
    } else {
        Err(AppError::invalid(
            "language",
            "language must be a language tag such as 'en'",
        ))
    }
}

fn valid_title(raw: &str) -> AppResult<&str> {
    validate::text("title", raw)?;
    let title = raw.trim();
    let chars = title.chars().count();
    if chars == 0 || chars > MAX_TITLE_CHARS {
        return Err(AppError::invalid(
            "title",
            format!("title must be 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(title)
}

/// The body is sent as a message, so it obeys the message length limit.
fn valid_body(raw: &str, max_chars: usize) -> AppResult<&str> {
    validate::text("body", raw)?;
    if raw.trim().is_empty() {
        return Err(AppError::invalid("body", "body must not be empty"));
    }
    if raw.chars().count() > max_chars {
        return Err(AppError::invalid(
            "body",
            format!("body must be at most {max_chars} characters"),
        ));
    }
    Ok(raw)
}

/// The audit details of a response's state; the body is left out (it can be long and is
/// not what anyone looks for in the log).
fn snapshot(row: &CannedRow) -> serde_json::Value {
    json!({"shortcut": row.shortcut, "language": row.language, "title": row.title})
}

/// `GET /api/v1/canned-responses?language=&q=`
#[utoipa::path(
    get,
    path = "/api/v1/canned-responses",
    tag = "canned-responses",
    params(CannedQuery),
    responses(
        (status = 200, description = "The matching responses", body = CannedList),
        (status = 400, description = "Malformed query string", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 422, description = "Invalid `language` or `q`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    _auth: AuthOperator,
    query: web::Query<CannedQuery>,
) -> AppResult<HttpResponse> {
    let language = query
        .language
        .as_deref()
        .filter(|l| !l.trim().is_empty())
        .map(valid_language)
        .transpose()?;
    validate::opt_text("q", query.q.as_deref())?;
    let prefix = query
        .q
        .as_deref()
        .map(|q| q.trim().trim_start_matches('/').to_owned())
        .filter(|q| !q.is_empty());
    let mut conn = state.pool.get().await?;
    let items = canned::list(&mut conn, &CannedFilter { language, prefix })
        .await?
        .into_iter()
        .map(CannedResponse::from)
        .collect();
    Ok(HttpResponse::Ok().json(CannedList { items }))
}

/// `GET /api/v1/canned-responses/{id}`
#[utoipa::path(
    get,
    path = "/api/v1/canned-responses/{id}",
    tag = "canned-responses",
    params(("id" = CannedId, Path, description = "Canned response id")),
    responses(
        (status = 200, description = "The response", body = CannedResponse),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 404, description = "No such canned response", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    _auth: AuthOperator,
    path: web::Path<CannedId>,
) -> AppResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let row = canned::find(&mut conn, *path)
        .await
        .map_err(missing("canned response"))?;
    Ok(HttpResponse::Ok().json(CannedResponse::from(row)))
}

/// `POST /api/v1/canned-responses` (admin)
#[utoipa::path(
    post,
    path = "/api/v1/canned-responses",
    tag = "canned-responses",
    request_body = NewCannedRequest,
    responses(
        (status = 201, description = "Created", body = CannedResponse),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 409, description = "`shortcut_exists`: the shortcut is taken in this language", body = ApiError),
        (status = 422, description = "Invalid `shortcut`, `language`, `title` or `body`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthOperator,
    body: Json<NewCannedRequest>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let shortcut = valid_shortcut(&body.shortcut)?;
    let language = match &body.language {
        Some(l) => valid_language(l)?,
        None => DEFAULT_LANGUAGE.to_owned(),
    };
    let title = valid_title(&body.title)?;
    let text = valid_body(&body.body, state.config.max_text_chars)?;
    let by = auth.operator.id;
    let mut conn = state.pool.get().await?;
    let row = conn
        .transaction::<_, AppError, _>(async |conn| {
            let row = canned::insert(
                conn,
                &NewCanned {
                    id: CannedId::new(),
                    shortcut: &shortcut,
                    language: &language,
                    title,
                    body: text,
                },
            )
            .await
            .map_err(clash("shortcut_exists", SHORTCUT_EXISTS))?;
            let entry = AuditEntry::new(
                Some(by),
                "canned_response.create",
                "canned_response",
                row.id,
                snapshot(&row),
            );
            audit::record(conn, &[entry]).await?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created().json(CannedResponse::from(row)))
}

/// `PATCH /api/v1/canned-responses/{id}` (admin)
#[utoipa::path(
    patch,
    path = "/api/v1/canned-responses/{id}",
    tag = "canned-responses",
    params(("id" = CannedId, Path, description = "Canned response id")),
    request_body = CannedPatch,
    responses(
        (status = 200, description = "The response after the change", body = CannedResponse),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such canned response", body = ApiError),
        (status = 409, description = "`shortcut_exists`: the shortcut is taken in this language", body = ApiError),
        (status = 422, description = "Invalid `shortcut`, `language`, `title` or `body`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<CannedId>,
    body: Json<CannedPatch>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let id = *path;
    let shortcut = body.shortcut.as_deref().map(valid_shortcut).transpose()?;
    let language = body.language.as_deref().map(valid_language).transpose()?;
    let title = body.title.as_deref().map(valid_title).transpose()?;
    let max = state.config.max_text_chars;
    let text = body
        .body
        .as_deref()
        .map(|b| valid_body(b, max))
        .transpose()?;
    let by = auth.operator.id;
    let mut conn = state.pool.get().await?;
    if shortcut.is_none() && language.is_none() && title.is_none() && text.is_none() {
        // Nothing to change, so nothing to audit: answer with the response as it is.
        let row = canned::find(&mut conn, id)
            .await
            .map_err(missing("canned response"))?;
        return Ok(HttpResponse::Ok().json(CannedResponse::from(row)));
    }
    let changes = CannedChanges {
        shortcut: shortcut.as_deref(),
        language: language.as_deref(),
        title,
        body: text,
        updated_at: Utc::now(),
    };
    let row = conn
        .transaction::<_, AppError, _>(async |conn| {
            let before = canned::find_for_update(conn, id)
                .await
                .map_err(missing("canned response"))?;
            let after = canned::update(conn, id, &changes)
                .await
                .map_err(clash("shortcut_exists", SHORTCUT_EXISTS))?;
            let details = json!({
                "before": snapshot(&before),
                "after": snapshot(&after),
                "body_changed": before.body != after.body,
            });
            let entry = AuditEntry::new(
                Some(by),
                "canned_response.update",
                "canned_response",
                id,
                details,
            );
            audit::record(conn, &[entry]).await?;
            Ok(after)
        })
        .await?;
    Ok(HttpResponse::Ok().json(CannedResponse::from(row)))
}

/// `DELETE /api/v1/canned-responses/{id}` (admin)
#[utoipa::path(
    delete,
    path = "/api/v1/canned-responses/{id}",
    tag = "canned-responses",
    params(("id" = CannedId, Path, description = "Canned response id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such canned response", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<CannedId>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let id = *path;
    let by = auth.operator.id;
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        let before = canned::find_for_update(conn, id)
            .await
            .map_err(missing("canned response"))?;
        canned::delete(conn, id).await?;
        let entry = AuditEntry::new(
            Some(by),
            "canned_response.delete",
            "canned_response",
            id,
            snapshot(&before),
        );
        audit::record(conn, &[entry]).await?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_are_lowercased_without_their_slash() {
        assert_eq!(valid_shortcut("/Refund_2-x").unwrap(), "refund_2-x");
        assert_eq!(valid_shortcut("thanks").unwrap(), "thanks");
        for bad in ["", "/", "with space", "ünï", "a/b", &"x".repeat(33)] {
            assert_eq!(
                valid_shortcut(bad).unwrap_err().field(),
                Some("shortcut"),
                "{bad}"
            );
        }
    }

    #[test]
    fn bodies_obey_the_message_limit() {
        assert!(valid_body(&"ы".repeat(2000), 2000).is_ok());
        assert_eq!(
            valid_body(&"ы".repeat(2001), 2000).unwrap_err().field(),
            Some("body")
        );
        assert!(valid_body("  ", 2000).is_err());
    }

    #[test]
    fn languages_are_tags() {
        assert_eq!(valid_language(" RU ").unwrap(), "ru");
        assert!(valid_language("pt-BR").is_ok());
        assert!(valid_language("e").is_err());
        assert!(valid_language("en_US!").is_err());
    }
}
