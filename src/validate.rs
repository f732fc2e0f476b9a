//! What PostgreSQL refuses to store, checked before a request reaches it, so that bad input is
//! a 422 naming its field instead of a failed write. With a UTF-8 database, `text` accepts every
//! Rust string except one containing NUL (U+0000), and `jsonb` refuses the `\u0000` escape in
//! keys and string values; nothing else a Rust string or a parsed `serde_json::Value` can hold
//! is refused (lone surrogates cannot occur in either, and numbers are finite).

use serde_json::Value;

use crate::error::{AppError, AppResult};

const NUL: char = '\0';

/// A string that goes into a `text` column or an SQL parameter.
pub fn text(field: &str, value: &str) -> AppResult<()> {
    if value.contains(NUL) {
        return Err(refused(field));
    }
    Ok(())
}

/// As [`text`], for an optional field.
pub fn opt_text(field: &str, value: Option<&str>) -> AppResult<()> {
    value.map_or(Ok(()), |v| text(field, v))
}

/// A JSON value that goes into a `jsonb` column: every key and string value, at any depth.
pub fn json(field: &str, value: &Value) -> AppResult<()> {
    // A stack rather than recursion: the depth is the client's choice.
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::String(s) => text(field, s)?,
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => {
                for (key, item) in map {
                    text(field, key)?;
                    pending.push(item);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    Ok(())
}

fn refused(field: &str) -> AppError {
    AppError::invalid(
        field,
        format!("{field} must not contain the NUL character (U+0000)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_without_nul_is_accepted() {
        assert!(text("text", "").is_ok());
        assert!(text("text", "привет 👋 \u{1}\t\n").is_ok());
        assert!(opt_text("comment", None).is_ok());
    }

    #[test]
    fn nul_anywhere_is_refused_naming_the_field() {
        for bad in ["\0", "a\0b", "ab\0"] {
            let err = text("client_id", bad).unwrap_err();
            assert_eq!(err.field(), Some("client_id"));
            assert!(err.to_string().contains("client_id"));
        }
        assert_eq!(
            opt_text("comment", Some("x\0")).unwrap_err().field(),
            Some("comment")
        );
    }

    #[test]
    fn json_is_walked_through_keys_and_values_at_any_depth() {
        assert!(json("metadata", &json!({"a": [1, true, null, {"b": "c"}]})).is_ok());
        let nested_value = json!({"a": [1, {"b": ["ok", "x\u{0}"]}]});
        let nested_key = json!({"a": {"k\u{0}": 1}});
        let top_key = json!({"\u{0}": "v"});
        for bad in [nested_value, nested_key, top_key, json!("\u{0}")] {
            assert_eq!(
                json("metadata", &bad).unwrap_err().field(),
                Some("metadata")
            );
        }
    }

    #[test]
    fn deep_json_does_not_overflow_the_stack() {
        let mut deep = json!("x\u{0}");
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert!(json("metadata", &deep).is_err());
        // Dropping a deeply nested Value recurses; forget it rather than test serde_json.
        std::mem::forget(deep);
    }
}
