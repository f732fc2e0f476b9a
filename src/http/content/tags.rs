//! `/tags`: every operator reads them; admins create, change and delete them, each change
//! written to the audit log in the same transaction as the change itself.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::db_errors::{clash, missing};
use crate::actors::conversation;
use crate::db::audit::{self, AuditEntry};
use crate::db::content::tags::{self, NewTag, TagChanges, TagRow};
use crate::domain::Role;
use crate::error::{ApiError, AppError, AppResult};
use crate::http::auth::AuthOperator;
use crate::http::json::Json;
use crate::http::AppState;
use crate::ids::TagId;

const MAX_NAME_CHARS: usize = 40;
const TAG_EXISTS: &str = "a tag with this name exists";

/// A label operators put on conversations.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tag {
    pub id: TagId,
    pub name: String,
    /// `#rrggbb`, lowercase.
    pub color: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<TagRow> for Tag {
    fn from(row: TagRow) -> Self {
        Tag {
            id: row.id,
            name: row.name,
            color: row.color,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagList {
    /// Alphabetical, ignoring case.
    pub items: Vec<Tag>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTagRequest {
    /// 1 to 40 characters, unique ignoring case.
    pub name: String,
    /// `#rrggbb`.
    #[serde(default)]
    pub color: Option<String>,
}

/// Only the fields present change; `"color": null` removes the colour.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TagPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub color: Option<Option<String>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`, by `default`).
fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

fn valid_name(name: &str) -> AppResult<&str> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "name",
            format!("name must be 1 to {MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(name)
}

fn valid_color(color: &str) -> AppResult<String> {
    let hex = color.strip_prefix('#').unwrap_or("");
    if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(color.to_ascii_lowercase())
    } else {
        Err(AppError::invalid(
            "color",
            "color must be written #rrggbb, e.g. #1e90ff",
        ))
    }
}

/// The audit details of a tag's state.
fn snapshot(row: &TagRow) -> serde_json::Value {
    json!({"name": row.name, "color": row.color})
}

/// `GET /api/v1/tags`
#[utoipa::path(
    get,
    path = "/api/v1/tags",
    tag = "tags",
    responses(
        (status = 200, description = "Every tag", body = TagList),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, _auth: AuthOperator) -> AppResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let items = tags::list(&mut conn)
        .await?
        .into_iter()
        .map(Tag::from)
        .collect();
    Ok(HttpResponse::Ok().json(TagList { items }))
}

/// `GET /api/v1/tags/{id}`
#[utoipa::path(
    get,
    path = "/api/v1/tags/{id}",
    tag = "tags",
    params(("id" = TagId, Path, description = "Tag id")),
    responses(
        (status = 200, description = "The tag", body = Tag),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 404, description = "No such tag", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    _auth: AuthOperator,
    path: web::Path<TagId>,
) -> AppResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let row = tags::find(&mut conn, *path).await.map_err(missing("tag"))?;
    Ok(HttpResponse::Ok().json(Tag::from(row)))
}

/// `POST /api/v1/tags` (admin)
#[utoipa::path(
    post,
    path = "/api/v1/tags",
    tag = "tags",
    request_body = NewTagRequest,
    responses(
        (status = 201, description = "Created", body = Tag),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 409, description = "`tag_exists`: the name is taken (ignoring case)", body = ApiError),
        (status = 422, description = "Invalid `name` or `color`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthOperator,
    body: Json<NewTagRequest>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let name = valid_name(&body.name)?;
    let color = body.color.as_deref().map(valid_color).transpose()?;
    let by = auth.operator.id;
    let mut conn = state.pool.get().await?;
    let row = conn
        .transaction::<_, AppError, _>(async |conn| {
            let row = tags::insert(
                conn,
                &NewTag {
                    id: TagId::new(),
                    name,
                    color: color.as_deref(),
                },
            )
            .await
            .map_err(clash("tag_exists", TAG_EXISTS))?;
            let entry = AuditEntry::new(Some(by), "tag.create", "tag", row.id, snapshot(&row));
            audit::record(conn, &[entry]).await?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created().json(Tag::from(row)))
}

/// `PATCH /api/v1/tags/{id}` (admin)
#[utoipa::path(
    patch,
    path = "/api/v1/tags/{id}",
    tag = "tags",
    params(("id" = TagId, Path, description = "Tag id")),
    request_body = TagPatch,
    responses(
        (status = 200, description = "The tag after the change", body = Tag),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such tag", body = ApiError),
        (status = 409, description = "`tag_exists`: the new name is taken", body = ApiError),
        (status = 422, description = "Invalid `name` or `color`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<TagId>,
    body: Json<TagPatch>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let id = *path;
    let name = body.name.as_deref().map(valid_name).transpose()?;
    let color = match &body.color {
        None => None,
        Some(None) => Some(None),
        Some(Some(c)) => Some(Some(valid_color(c)?)),
    };
    let changes = TagChanges {
        name,
        color: color.as_ref().map(Option::as_deref),
    };
    let by = auth.operator.id;
    let mut conn = state.pool.get().await?;
    if changes.is_empty() {
        // Nothing to change, so nothing to audit: answer with the tag as it is.
        let row = tags::find(&mut conn, id).await.map_err(missing("tag"))?;
        return Ok(HttpResponse::Ok().json(Tag::from(row)));
    }
    let row = conn
        .transaction::<_, AppError, _>(async |conn| {
            let before = tags::find_for_update(conn, id)
                .await
                .map_err(missing("tag"))?;
            let after = tags::update(conn, id, &changes)
                .await
                .map_err(clash("tag_exists", TAG_EXISTS))?;
            let details = json!({"before": snapshot(&before), "after": snapshot(&after)});
            let entry = AuditEntry::new(Some(by), "tag.update", "tag", id, details);
            audit::record(conn, &[entry]).await?;
            Ok(after)
        })
        .await?;
    conversation::tag_changed(&state.registry, id, Some(row.name.clone()));
    Ok(HttpResponse::Ok().json(Tag::from(row)))
}

/// `DELETE /api/v1/tags/{id}` (admin): the tag also leaves every conversation that had it.
#[utoipa::path(
    delete,
    path = "/api/v1/tags/{id}",
    tag = "tags",
    params(("id" = TagId, Path, description = "Tag id")),
    responses(
        (status = 204, description = "Deleted, and removed from every conversation"),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such tag", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<TagId>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let id = *path;
    let by = auth.operator.id;
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        let before = tags::find_for_update(conn, id)
            .await
            .map_err(missing("tag"))?;
        // Kept in the log, since the cascade leaves no other trace of where the tag was.
        let used = tags::usage(conn, id).await?;
        tags::delete(conn, id).await?;
        let mut details = snapshot(&before);
        details["conversations"] = json!(used);
        let entry = AuditEntry::new(Some(by), "tag.delete", "tag", id, details);
        audit::record(conn, &[entry]).await?;
        Ok(())
    })
    .await?;
    conversation::tag_changed(&state.registry, id, None);
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("  Billing ").unwrap(), "Billing");
        assert_eq!(valid_name("   ").unwrap_err().field(), Some("name"));
        assert!(valid_name(&"x".repeat(40)).is_ok());
        assert!(valid_name(&"ж".repeat(41)).is_err());
        assert!(valid_name("a\nb").is_err());
    }

    #[test]
    fn colors_are_hex_triplets() {
        assert_eq!(valid_color("#1E90FF").unwrap(), "#1e90ff");
        for bad in ["1e90ff", "#1e90f", "#1e90fg", "#1e90ff0", ""] {
            assert_eq!(
                valid_color(bad).unwrap_err().field(),
                Some("color"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_patch_tells_null_from_absent() {
        let absent: TagPatch = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(absent.color, None);
        let null: TagPatch = serde_json::from_str(r#"{"color":null}"#).unwrap();
        assert_eq!(null.color, Some(None));
        let set: TagPatch = serde_json::from_str(r##"{"color":"#000000"}"##).unwrap();
        assert_eq!(set.color, Some(Some("#000000".into())));
    }
}
