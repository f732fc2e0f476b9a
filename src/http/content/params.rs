//! Reading query parameters the same way on every endpoint of this module: page sizes, RFC 3339
//! times and opaque cursors, each rejected with a 422 that names the parameter.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::error::{AppError, AppResult};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 100;

/// `limit`, 1 to 100, 50 when absent.
pub fn limit(value: Option<i64>) -> AppResult<i64> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(AppError::invalid(
            "limit",
            format!("limit must be 1 to {MAX_LIMIT}"),
        )),
    }
}

/// An RFC 3339 time; blank counts as absent (what an empty form field sends). A `+` in an
/// offset that was not percent-encoded arrives as a space (`2026-11-22T10:00:00 01:00`), so a
/// space is read back as `+` rather than rejected.
pub fn time(field: &str, value: Option<&str>) -> AppResult<Option<DateTime<Utc>>> {
    let Some(raw) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let raw = raw.trim().replace(' ', "+");
    DateTime::parse_from_rfc3339(&raw)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            AppError::invalid(
                field,
                format!("{field} must be an RFC 3339 time such as 2026-11-22T10:00:00Z"),
            )
        })
}

/// Parts joined by `|` and base64url-encoded: opaque to clients, so its layout may change.
pub fn encode_cursor(parts: &[String]) -> String {
    URL_SAFE_NO_PAD.encode(parts.join("|"))
}

/// The `n` parts of a cursor this server issued; a 422 naming `field` otherwise.
pub fn decode_cursor(field: &str, raw: &str, n: usize) -> AppResult<Vec<String>> {
    let bad = || AppError::invalid(field, format!("{field} is not a cursor this server issued"));
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let parts: Vec<String> = text.split('|').map(str::to_owned).collect();
    if parts.len() == n {
        Ok(parts)
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_bound() {
        assert_eq!(limit(None).unwrap(), 50);
        assert_eq!(limit(Some(100)).unwrap(), 100);
        assert_eq!(limit(Some(0)).unwrap_err().field(), Some("limit"));
        assert!(limit(Some(101)).is_err());
    }

    #[test]
    fn times_accept_offsets_even_when_plus_became_space() {
        let utc = time("from", Some("2026-11-22T10:00:00Z")).unwrap().unwrap();
        let plus = time("from", Some("2026-11-22T11:00:00 01:00"))
            .unwrap()
            .unwrap();
        assert_eq!(utc, plus);
        assert_eq!(time("to", None).unwrap(), None);
        assert_eq!(time("to", Some(" ")).unwrap(), None);
        assert_eq!(
            time("to", Some("yesterday")).unwrap_err().field(),
            Some("to")
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_foreign_text() {
        let c = encode_cursor(&["1".into(), "a".into()]);
        assert_eq!(decode_cursor("before", &c, 2).unwrap(), vec!["1", "a"]);
        assert!(decode_cursor("before", &c, 3).is_err());
        assert!(decode_cursor("before", "%%%", 2).is_err());
    }
}
