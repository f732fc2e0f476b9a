//! `GET /audit`: the audit log for admins, newest first, with filters and id-based paging.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::params;
use crate::db::audit::{self, AuditFilter};
use crate::db::content::operator_names;
use crate::domain::Role;
use crate::error::{ApiError, AppError, AppResult};
use crate::http::auth::AuthOperator;
use crate::http::AppState;
use crate::ids::OperatorId;
use crate::validate;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only actions by this operator (id).
    pub operator: Option<String>,
    /// Only this action, e.g. `tag.create`.
    pub action: Option<String>,
    /// Only actions on this target id.
    pub target: Option<String>,
    /// From this time (RFC 3339, inclusive).
    pub from: Option<String>,
    /// Until this time (RFC 3339, exclusive).
    pub to: Option<String>,
    /// The `next` of the previous page.
    pub before: Option<String>,
    /// 1 to 100, default 50.
    pub limit: Option<i64>,
}

/// One recorded action.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditItem {
    pub id: i64,
    /// Who acted; null for the system.
    pub operator_id: Option<OperatorId>,
    pub operator_name: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// What changed, by action.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditItem>,
    /// Pass as `before` for the next page; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

fn filter(query: &AuditQuery) -> AppResult<AuditFilter> {
    validate::opt_text("action", query.action.as_deref())?;
    validate::opt_text("target", query.target.as_deref())?;
    let operator = query
        .operator
        .as_deref()
        .map(|raw| {
            raw.trim()
                .parse::<OperatorId>()
                .map_err(|_| AppError::invalid("operator", "operator must be an operator id"))
        })
        .transpose()?;
    let before_id = query
        .before
        .as_deref()
        .map(|raw| {
            raw.trim().parse::<i64>().map_err(|_| {
                AppError::invalid("before", "before is not a cursor this server issued")
            })
        })
        .transpose()?;
    let non_empty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Ok(AuditFilter {
        operator,
        action: non_empty(&query.action),
        target_id: non_empty(&query.target),
        from: params::time("from", query.from.as_deref())?,
        to: params::time("to", query.to.as_deref())?,
        before_id,
    })
}

/// `GET /api/v1/audit?operator=&action=&target=&from=&to=&before=&limit=` (admin)
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Matching entries, newest first", body = AuditPage),
        (status = 400, description = "Malformed query string", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 422, description = "Invalid `operator`, `action`, `target`, `from`, `to`, `before` or `limit`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthOperator,
    query: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let filter = filter(&query)?;
    let limit = params::limit(query.limit)?;
    let mut conn = state.pool.get().await?;
    let rows = audit::list(&mut conn, &filter, limit).await?;
    let mut ids: Vec<OperatorId> = rows.iter().filter_map(|r| r.operator_id).collect();
    ids.sort();
    ids.dedup();
    let names = operator_names::names(&mut conn, &ids).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    let items = rows
        .into_iter()
        .map(|r| AuditItem {
            id: r.id,
            operator_name: r.operator_id.and_then(|id| names.get(&id).cloned()),
            operator_id: r.operator_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            details: r.details,
            at: r.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(AuditPage { items, next }))
}
