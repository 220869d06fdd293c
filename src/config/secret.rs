//! The one secret type and the one redaction rule.
//!
//! Secrets (tokens, API keys, webhook URLs that carry a token, signing keys) come from the
//! environment (a `*_env` key names the variable) and live in a [`Secret`], which never prints:
//! `Debug`, `Display` and `Serialize` all show `***`. Text that may quote a secret — an error
//! from an HTTP library that echoes the URL, a platform's answer that echoes the key — passes
//! through [`redact`] before it reaches a log, an event, the API or the dashboard.
//!
//! The rule: every occurrence of every non-empty secret becomes `***`, longest first (so a
//! secret that contains another is hidden whole). However short a secret is, it is redacted:
//! an unreadable reason is a smaller harm than a leaked key.

use serde::{Serialize, Serializer};

/// What a secret reads as wherever it would be shown.
pub const REDACTED: &str = "***";

/// A secret read from the environment. It never prints: `Debug`, `Display` and `Serialize`
/// all show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with this secret redacted ([`redact`] with one secret).
    pub fn redact(&self, text: &str) -> String {
        redact(text, &[self])
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// `text` with every occurrence of each non-empty secret replaced by `***`, the longest
/// secrets first. See the module docs.
pub fn redact(text: &str, secrets: &[&Secret]) -> String {
    let mut by_length: Vec<&str> = secrets
        .iter()
        .map(|s| s.expose())
        .filter(|s| !s.is_empty())
        .collect();
    by_length.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_owned();
    for secret in by_length {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_non_empty_secret_is_redacted_however_short_and_the_longest_first() {
        let short = Secret::new("abc");
        let long = Secret::new("abcdef-token");
        let empty = Secret::new("");
        assert_eq!(
            redact(
                "GET /x?k=abcdef-token failed; abc",
                &[&short, &long, &empty]
            ),
            "GET /x?k=*** failed; ***"
        );
        assert_eq!(short.redact("no secret here"), "no secret here");
        assert_eq!(empty.redact("kept"), "kept");
        assert_eq!(format!("{long} {long:?}"), "*** ***");
        assert_eq!(serde_json::to_string(&long).unwrap(), "\"***\"");
    }
}
