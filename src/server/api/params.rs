//! Query-parameter parsing shared by every `/api/v1` resource. Each parser names the field it
//! was given in its error, so a bad value answers 400 with `"field": "<name>"`.

use std::time::Duration;

use actix_web::web;
use futures_util::StreamExt;

use crate::messages::Timestamp;
use crate::server::error::ApiError;

/// The times [`parse_time`] takes, as the OpenAPI document's `pattern`: `now`, epoch ms,
/// RFC 3339 in UTC, or a duration (`90s`, `1h 30m`). It leaves out a few forms the parser
/// also takes (offsets, 29th to 31st), so that every string it matches is accepted.
pub const TIME_PATTERN: &str = r"^(now|-?[0-9]{1,15}|(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?Z|[0-9]{1,6}(ms|s|m|h|d)( ?[0-9]{1,6}(ms|s|m|h|d))*)$";

/// The durations [`parse_duration`] takes that the OpenAPI document promises: more than zero,
/// in `ms`, `s`, `m`, `h`, `d` (`2h`, `1h 30m`).
pub const DURATION_PATTERN: &str = r"^[1-9][0-9]{0,5}(ms|s|m|h|d)( ?[0-9]{1,6}(ms|s|m|h|d))*$";

/// A time parameter: epoch milliseconds (`1767225600000`), RFC 3339
/// (`2026-01-01T00:00:00Z`, fractions allowed), a duration before `now` (`90s`, `15m`, `1h`,
/// `2d`, as humantime spells them), or `now`.
pub fn parse_time(field: &str, s: &str, now: Timestamp) -> Result<Timestamp, ApiError> {
    let s = s.trim();
    let bad = || {
        ApiError::field(
            field,
            format!(
                "{field}: {s:?} is not a time: give epoch milliseconds, RFC 3339 \
                 (2026-01-01T00:00:00Z) or a duration before now (1h)"
            ),
        )
    };
    if s.is_empty() {
        return Err(bad());
    }
    if s == "now" {
        return Ok(now);
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().map(Timestamp).map_err(|_| bad());
    }
    if let Some(t) = Timestamp::parse_rfc3339(s) {
        return Ok(t);
    }
    // A duration starts with a digit; anything else was meant as a date.
    if s.as_bytes()[0].is_ascii_digit()
        && let Ok(d) = humantime::parse_duration(s)
    {
        let ms = i64::try_from(d.as_millis()).map_err(|_| bad())?;
        return Ok(Timestamp(now.as_millis().saturating_sub(ms)));
    }
    Err(bad())
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

/// Reads a raw body of at most [`MAX_BODY`](crate::server::MAX_BODY) bytes; a larger one is a
/// JSON 413 ([`ApiError::TooLarge`]), not actix's plain-text one.
pub async fn read_body(mut payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    let limit = crate::server::MAX_BODY;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            field: None,
            message: format!("cannot read the body: {e}"),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_795_000_000_000);

    fn field_of(e: ApiError) -> Option<String> {
        match e {
            ApiError::BadRequest { field, .. } => field,
            _ => None,
        }
    }

    #[test]
    fn parse_time_takes_epoch_ms_rfc3339_relative_and_now() {
        assert_eq!(
            parse_time("since", "1767225600000", NOW).unwrap(),
            Timestamp(1_767_225_600_000)
        );
        assert_eq!(
            parse_time("since", "2026-11-18T11:06:43Z", NOW).unwrap(),
            Timestamp(1_795_000_003_000)
        );
        assert_eq!(
            parse_time("since", "2026-11-18T11:06:43.250Z", NOW).unwrap(),
            Timestamp(1_795_000_003_250)
        );
        assert_eq!(
            parse_time("since", "1h", NOW).unwrap(),
            Timestamp(NOW.0 - 3_600_000)
        );
        assert_eq!(
            parse_time("since", "1h 30m", NOW).unwrap(),
            Timestamp(NOW.0 - 5_400_000)
        );
        assert_eq!(
            parse_time("since", "250ms", NOW).unwrap(),
            Timestamp(NOW.0 - 250)
        );
        assert_eq!(parse_time("until", " now ", NOW).unwrap(), NOW);
        assert_eq!(parse_time("since", "0", NOW).unwrap(), Timestamp(0));
    }

    #[test]
    fn parse_time_refuses_garbage_naming_the_field() {
        for bad in [
            "",
            "yesterday",
            "1 fortnight",
            "h1",
            "99999999999999999999999",
            "2026-13-40T00:00:00Z",
            "-",
            "1e3",
        ] {
            let e = parse_time("until", bad, NOW).expect_err(bad);
            assert_eq!(field_of(e).as_deref(), Some("until"), "{bad:?}");
        }
    }

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
