//! Parsing shared by the API's handlers: times given as epoch milliseconds, RFC 3339, or a
//! duration back from now (`"1h"`), and plain durations (`"2h"`). Every failure is a 400
//! naming the field.

use std::time::Duration;

use crate::messages::Timestamp;
use crate::server::error::ApiError;

/// A time: epoch milliseconds (`1767225600000`), RFC 3339 (`2026-01-01T00:00:00Z`), or a
/// duration meaning that long before `now` (`"1h"`, `"90s"`).
pub fn parse_time(field: &str, s: &str, now: Timestamp) -> Result<Timestamp, ApiError> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(Timestamp(ms));
    }
    if let Some(t) = Timestamp::parse_rfc3339(s) {
        return Ok(t);
    }
    if let Ok(d) = humantime::parse_duration(s) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        return Ok(Timestamp(now.as_millis().saturating_sub(ms)));
    }
    Err(ApiError::field(
        field,
        format!("not a time: {s:?} (epoch milliseconds, RFC 3339, or a duration such as \"1h\")"),
    ))
}

/// A duration (`"2h"`, `"30m"`, `"1h 30m"`), more than zero.
pub fn parse_duration(field: &str, s: &str) -> Result<Duration, ApiError> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(ApiError::field(field, "must be more than zero")),
        Err(e) => Err(ApiError::field(
            field,
            format!("not a duration: {s:?} ({e}); e.g. \"2h\""),
        )),
    }
}

/// A JSON body's fields, for handlers that name the field of every error (serde's own
/// messages name it only for missing and unknown fields): the body must be an object whose
/// keys are all in `known`.
pub fn body_fields(
    body: serde_json::Value,
    known: &[&str],
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let serde_json::Value::Object(map) = body else {
        return Err(ApiError::BadRequest {
            field: None,
            message: "the body must be a JSON object".into(),
        });
    };
    if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::field(
            unknown.as_str(),
            format!("unknown field; expected one of {}", known.join(", ")),
        ));
    }
    Ok(map)
}

/// Takes field `key` of `fields` as a `T`; absent or null is `None`; a wrong type is a 400
/// naming it.
pub fn take<T: serde::de::DeserializeOwned>(
    fields: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<Option<T>, ApiError> {
    match fields.remove(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| ApiError::field(key, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_accepted_form() {
        let now = Timestamp(1_795_000_000_000);
        assert_eq!(
            parse_time("since", "1767225600000", now).unwrap(),
            Timestamp(1_767_225_600_000)
        );
        assert_eq!(
            parse_time("since", "2026-11-18T11:06:43.250Z", now).unwrap(),
            Timestamp(1_795_000_003_250)
        );
        assert_eq!(
            parse_time("since", "1h", now).unwrap(),
            Timestamp(1_795_000_000_000 - 3_600_000)
        );
        let e = parse_time("since", "yesterday", now).unwrap_err();
        assert!(matches!(e, ApiError::BadRequest { field: Some(f), .. } if f == "since"));
    }

    #[test]
    fn durations_are_positive() {
        assert_eq!(
            parse_duration("d", "2h").unwrap(),
            Duration::from_secs(7200)
        );
        assert!(parse_duration("d", "0s").is_err());
        assert!(parse_duration("d", "soon").is_err());
    }
}
