//! Signing of outgoing webhook requests, so a receiver can verify origin and refuse replays.
//!
//! With `secret_env` set, every webhook request carries
//! `X-Exwatch-Signature: t=<unix seconds>,v1=<hex>`, where `<hex>` is HMAC-SHA256 keyed with the
//! secret's UTF-8 bytes over the bytes `<t>.<body>` (the raw body exactly as sent). A receiver
//! recomputes it, compares in constant time, and refuses a `t` older than five minutes.
//!
//! Test vector: secret `whsec_test_secret`, `t = 1700000000`, body `{"alert":"test"}` →
//! `t=1700000000,v1=6ad6e6311cbd184fffd679431dd2089c26f66d43fe37d4b4a917a0991b15e47f`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Exwatch-Signature";

/// How old a signature a receiver should accept, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

fn mac(secret: &Secret, t: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value signing `body` at unix time `t`.
pub fn sign(secret: &Secret, t: i64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    let mut hex = String::with_capacity(tag.len() * 2);
    for b in tag {
        hex.push_str(&format!("{b:02x}"));
    }
    format!("t={t},v1={hex}")
}

/// Verifies a header value against `body` at unix time `now` (what a receiver does): the
/// signature must match in constant time and `t` be at most [`TOLERANCE_SECS`] away.
pub fn verify(secret: &Secret, header: &str, body: &[u8], now: i64) -> bool {
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.push(v),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if now.abs_diff(t) > TOLERANCE_SECS as u64 {
        return false;
    }
    candidates.into_iter().any(|hex| {
        let Some(bytes) = decode_hex(hex) else {
            return false;
        };
        mac(secret, t, body).verify_slice(&bytes).is_ok()
    })
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_published_test_vector() {
        let secret = Secret::new("whsec_test_secret");
        assert_eq!(
            sign(&secret, 1_700_000_000, br#"{"alert":"test"}"#),
            "t=1700000000,v1=6ad6e6311cbd184fffd679431dd2089c26f66d43fe37d4b4a917a0991b15e47f"
        );
    }

    #[test]
    fn signature_verifies_and_refuses_tampering_and_replays() {
        let secret = Secret::new("s3cret");
        let body = br#"{"id":"1"}"#;
        let header = sign(&secret, 1_000, body);
        assert!(verify(&secret, &header, body, 1_100));
        assert!(
            !verify(&secret, &header, br#"{"id":"2"}"#, 1_100),
            "tampered body"
        );
        assert!(
            !verify(&Secret::new("other"), &header, body, 1_100),
            "wrong secret"
        );
        assert!(
            !verify(&secret, &header, body, 1_000 + TOLERANCE_SECS + 1),
            "replay"
        );
        assert!(!verify(&secret, "t=1000,v1=zz", body, 1_000));
        assert!(!verify(&secret, "v1=00", body, 1_000));
        assert!(!verify(
            &secret,
            &format!("t={},v1=00", i64::MIN),
            body,
            1_000
        ));
    }
}
