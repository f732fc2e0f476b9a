//! The JSON body extractor for handlers: `web::Json` with its limits and content-type rules,
//! except that a well-formed body of the wrong shape is a 422 naming the field at fault
//! (`priority`, `items[2].name`). serde_json's own messages carry no path, so the body is read
//! as a `Value` first and then turned into the type while tracking where it went wrong.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// A request body of type `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Size limit, content type and syntax errors: as configured for `web::Json`.
        let body = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = body.await?.into_inner();
            serde_path_to_error::deserialize(value)
                .map(Json)
                .map_err(|e| shape_error(e).into())
        })
    }
}

/// A body that is JSON but not the expected shape, naming where it differs.
fn shape_error(err: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let path = err.path().to_string();
    let message = err.into_inner().to_string();
    // A missing field is reported at the object that lacks it; name the field itself.
    let field = match (path.as_str(), missing_field(&message)) {
        (".", missing) => missing,
        (parent, Some(missing)) => Some(format!("{parent}.{missing}")),
        (at, None) => Some(at.to_owned()),
    };
    let message = match &field {
        Some(field) => format!("invalid {field}: {message}"),
        None => format!("invalid request body: {message}"),
    };
    AppError::InvalidRequest { message, field }
}

/// serde names a missing field as "missing field `x`".
fn missing_field(message: &str) -> Option<String> {
    let rest = message.split("missing field `").nth(1)?;
    rest.split('`').next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Level {
        Low,
        High,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        level: Level,
        count: Option<i16>,
        #[serde(default)]
        items: Vec<Inner>,
    }

    fn field_of(value: serde_json::Value) -> Option<String> {
        let err = serde_path_to_error::deserialize::<_, Body>(value).unwrap_err();
        shape_error(err).field().map(str::to_owned)
    }

    #[test]
    fn errors_name_the_field_at_fault() {
        assert_eq!(
            field_of(json!({"level": "medium"})).as_deref(),
            Some("level")
        );
        assert_eq!(field_of(json!({"level": 3})).as_deref(), Some("level"));
        assert_eq!(
            field_of(json!({"level": "low", "count": "many"})).as_deref(),
            Some("count")
        );
        assert_eq!(field_of(json!({})).as_deref(), Some("level"));
        assert_eq!(
            field_of(json!({"level": "low", "items": [{"name": "a"}, {}]})).as_deref(),
            Some("items[1].name")
        );
        assert_eq!(field_of(json!("body")), None);
    }
}
