//! The configuration as written: the merged `config::Value` tree (file, then environment
//! overrides), and a reader over it that keeps track of the dotted key path, collects every
//! problem instead of stopping at the first, and finally reports every key that was present
//! but never read as an `unknown key` (typo detection).
//!
//! Values may arrive as strings from the environment, so readers coerce where it is sensible:
//! `"5"` is a fine integer, `5` a fine string. Durations are always strings (`"10s"`).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use config::{Map, Value, ValueKind};

use crate::error::Problem;

/// The longest duration any key accepts.
const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// The `origin` the `config` crate gives to values read from the environment.
const ENV_ORIGIN: &str = "the environment";

/// Where problems are collected while a tree is read; shared by every [`Table`] of one read.
#[derive(Debug, Default)]
pub(crate) struct Problems(RefCell<Vec<Problem>>);

impl Problems {
    /// Records a problem about `key`.
    pub(crate) fn push(&self, key: impl Into<String>, message: impl Into<String>) {
        self.0.borrow_mut().push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    /// True when nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// Every problem, sorted by key path and deduplicated.
    pub(crate) fn into_sorted(self) -> Vec<Problem> {
        let mut v = self.0.into_inner();
        v.sort_by(|a, b| (&a.key, &a.message).cmp(&(&b.key, &b.message)));
        v.dedup();
        v
    }
}

/// Describes a value for messages: `string "abc"`, `integer 5`, `a table`, …
pub(crate) fn describe(v: &Value) -> String {
    match &v.kind {
        ValueKind::Nil => "nothing".into(),
        ValueKind::Boolean(b) => format!("boolean {b}"),
        ValueKind::I64(i) => format!("integer {i}"),
        ValueKind::I128(i) => format!("integer {i}"),
        ValueKind::U64(i) => format!("integer {i}"),
        ValueKind::U128(i) => format!("integer {i}"),
        ValueKind::Float(f) => format!("float {f}"),
        ValueKind::String(s) => format!("string {s:?}"),
        ValueKind::Table(_) => "a table".into(),
        ValueKind::Array(_) => "a list".into(),
    }
}

/// `" (from the environment)"` when the value came from an environment override, else `""`.
fn origin_note(v: &Value) -> &'static str {
    if v.origin() == Some(ENV_ORIGIN) {
        " (from the environment)"
    } else {
        ""
    }
}

/// Reads a value as an integer, coercing strings (environment overrides arrive as strings).
fn as_i128(v: &Value) -> Result<i128, ()> {
    match &v.kind {
        ValueKind::I64(i) => Ok(i128::from(*i)),
        ValueKind::I128(i) => Ok(*i),
        ValueKind::U64(i) => Ok(i128::from(*i)),
        ValueKind::U128(i) => i128::try_from(*i).map_err(|_| ()),
        ValueKind::Float(f) if f.fract() == 0.0 && f.abs() < 1e18 => Ok(*f as i128),
        ValueKind::String(s) => s.trim().parse::<i128>().map_err(|_| ()),
        _ => Err(()),
    }
}

/// The edit distance between two short strings (for "did you mean").
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// One table of the tree, with its dotted path. Every key read through it is remembered;
/// [`Table::finish`] reports the others.
pub(crate) struct Table<'a> {
    path: String,
    map: Option<&'a Map<String, Value>>,
    asked: BTreeSet<String>,
    problems: &'a Problems,
}

impl<'a> Table<'a> {
    /// The root of a tree.
    pub(crate) fn root(map: &'a Map<String, Value>, problems: &'a Problems) -> Self {
        Self {
            path: String::new(),
            map: Some(map),
            asked: BTreeSet::new(),
            problems,
        }
    }

    /// The dotted path of `key` in this table. A key that is not a bare TOML key (empty, or
    /// holding a space, a quote, a non-ASCII letter…) is quoted (`monitor.""`), so that every
    /// path names its key and none is empty. `[i]` stays as it is: callers name list items
    /// `to[0]`.
    pub(crate) fn path_of(&self, key: &str) -> String {
        let bare = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'[' | b']'));
        let key = if bare {
            key.to_owned()
        } else {
            format!("{key:?}")
        };
        if self.path.is_empty() {
            key
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The shared problem list.
    pub(crate) fn problems(&self) -> &'a Problems {
        self.problems
    }

    /// The raw value of `key`, marking it as read.
    pub(crate) fn get(&mut self, key: &str) -> Option<&'a Value> {
        self.asked.insert(key.to_owned());
        self.map.and_then(|m| m.get(key))
    }

    /// True when `key` is present (does not mark it as read).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.is_some_and(|m| m.contains_key(key))
    }

    /// The keys present, sorted.
    pub(crate) fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .map
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// True when `key` has been read (or marked).
    pub(crate) fn is_read(&self, key: &str) -> bool {
        self.asked.contains(key)
    }

    /// Marks `key` as read without reading it (its problem, if any, was reported otherwise).
    pub(crate) fn mark(&mut self, key: &str) {
        self.asked.insert(key.to_owned());
    }

    /// Marks every key as read: used when a table cannot be judged further (one problem, no
    /// cascade).
    pub(crate) fn mark_all(&mut self) {
        for k in self.keys() {
            self.asked.insert(k);
        }
    }

    /// Records a problem about `key` of this table, noting when its value came from the
    /// environment.
    pub(crate) fn problem(&self, key: &str, message: impl Into<String>) {
        let note = self
            .map
            .and_then(|m| m.get(key))
            .map(origin_note)
            .unwrap_or("");
        self.problems
            .push(self.path_of(key), format!("{}{note}", message.into()));
    }

    /// Records a problem about this table itself.
    pub(crate) fn problem_here(&self, message: impl Into<String>) {
        self.problems.push(self.path.clone(), message);
    }

    fn wrong_type(&self, key: &str, v: &Value, expected: &str) {
        self.problem(key, format!("expected {expected}, found {}", describe(v)));
    }

    /// Records that a required key is missing.
    pub(crate) fn missing(&self, key: &str, expected: &str) {
        self.problems
            .push(self.path_of(key), format!("missing; expected {expected}"));
    }

    /// A string (numbers are accepted and written out).
    pub(crate) fn str(&mut self, key: &str) -> Option<String> {
        let v = self.get(key)?;
        match &v.kind {
            ValueKind::String(s) => Some(s.clone()),
            ValueKind::I64(_)
            | ValueKind::I128(_)
            | ValueKind::U64(_)
            | ValueKind::U128(_)
            | ValueKind::Float(_) => Some(v.to_string()),
            _ => {
                self.wrong_type(key, v, "a string");
                None
            }
        }
    }

    /// A string that must be present.
    pub(crate) fn req_str(&mut self, key: &str, expected: &str) -> Option<String> {
        if !self.has(key) {
            self.mark(key);
            self.missing(key, expected);
            return None;
        }
        self.str(key)
    }

    /// A duration written as a humantime string: `"200ms"`, `"10s"`, `"5m"`, `"6h"`.
    /// A duration string. Anything over a year is refused: no setting needs more, and
    /// clock arithmetic on centuries would overflow.
    pub(crate) fn duration(&mut self, key: &str) -> Option<Duration> {
        let v = self.get(key)?;
        let ValueKind::String(s) = &v.kind else {
            self.wrong_type(
                key,
                v,
                "a duration string such as \"500ms\", \"10s\" or \"5m\"",
            );
            return None;
        };
        match humantime::parse_duration(s.trim()) {
            Ok(d) if d > MAX_DURATION => {
                self.problem(key, format!("{s:?} is too long; the maximum is 365 days"));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(
                    key,
                    format!(
                        "invalid duration {s:?} ({e}); expected e.g. \"500ms\", \"10s\", \"5m\", \"6h\""
                    ),
                );
                None
            }
        }
    }

    fn integer(&mut self, key: &str, max: i128, expected: &str) -> Option<i128> {
        let v = self.get(key)?;
        match as_i128(v) {
            Ok(i) if (0..=max).contains(&i) => Some(i),
            Ok(i) => {
                self.problem(key, format!("{i} is out of range; expected {expected}"));
                None
            }
            Err(()) => {
                self.wrong_type(key, v, expected);
                None
            }
        }
    }

    /// A non-negative integer that fits `u32`.
    pub(crate) fn u32(&mut self, key: &str) -> Option<u32> {
        self.integer(key, i128::from(u32::MAX), "a non-negative integer")
            .and_then(|i| u32::try_from(i).ok())
    }

    /// A non-negative integer that fits `usize`.
    pub(crate) fn usize(&mut self, key: &str) -> Option<usize> {
        let max = i128::try_from(usize::MAX).unwrap_or(i128::MAX);
        self.integer(key, max, "a non-negative integer")
            .and_then(|i| usize::try_from(i).ok())
    }

    /// A number (integers and numeric strings accepted).
    pub(crate) fn f64(&mut self, key: &str) -> Option<f64> {
        let v = self.get(key)?;
        let n = match &v.kind {
            ValueKind::Float(f) => Some(*f),
            ValueKind::String(s) => s.trim().parse::<f64>().ok(),
            _ => as_i128(v).ok().map(|i| i as f64),
        };
        match n {
            Some(n) if n.is_finite() => Some(n),
            _ => {
                self.wrong_type(key, v, "a number");
                None
            }
        }
    }

    /// A list of numbers (`levels = [0.95, 0.99]`); each bad item is reported with its index.
    pub(crate) fn f64_list(&mut self, key: &str) -> Option<Vec<f64>> {
        let v = self.get(key)?;
        let ValueKind::Array(items) = &v.kind else {
            self.wrong_type(key, v, "a list of numbers");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let n = match &item.kind {
                ValueKind::Float(f) => Some(*f),
                ValueKind::String(s) => s.trim().parse::<f64>().ok(),
                _ => as_i128(item).ok().map(|i| i as f64),
            };
            match n {
                Some(n) if n.is_finite() => out.push(n),
                _ => self.problems.push(
                    format!("{}[{i}]", self.path_of(key)),
                    format!("expected a number, found {}", describe(item)),
                ),
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    /// A boolean (`"true"` / `"false"` strings accepted).
    #[allow(dead_code, reason = "no boolean key yet; kept for keys to come")]
    pub(crate) fn bool(&mut self, key: &str) -> Option<bool> {
        let v = self.get(key)?;
        match &v.kind {
            ValueKind::Boolean(b) => Some(*b),
            ValueKind::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            ValueKind::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => {
                self.wrong_type(key, v, "a boolean");
                None
            }
        }
    }

    /// A string or a list of strings (`to = "+66…"` or `to = ["+66…", "+66…"]`).
    #[allow(
        dead_code,
        reason = "used by the sms and alertmanager channels when they arrive"
    )]
    pub(crate) fn str_or_list(&mut self, key: &str) -> Option<Vec<String>> {
        let v = self.get(key)?;
        match &v.kind {
            ValueKind::String(s) => Some(vec![s.clone()]),
            ValueKind::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match &item.kind {
                        ValueKind::String(s) => out.push(s.clone()),
                        _ => self.problems.push(
                            format!("{}[{i}]", self.path_of(key)),
                            format!("expected a string, found {}", describe(item)),
                        ),
                    }
                }
                (out.len() == items.len()).then_some(out)
            }
            _ => {
                self.wrong_type(key, v, "a string or a list of strings");
                None
            }
        }
    }

    /// A sub-table. An absent key gives an empty table; a value of another type is reported and
    /// gives an empty table too.
    pub(crate) fn table(&mut self, key: &str) -> Table<'a> {
        let path = self.path_of(key);
        let map = match self.get(key) {
            None => None,
            Some(Value {
                kind: ValueKind::Table(m),
                ..
            }) => Some(m),
            Some(v) => {
                self.wrong_type(key, v, "a table");
                None
            }
        };
        Table {
            path,
            map,
            asked: BTreeSet::new(),
            problems: self.problems,
        }
    }

    /// Every entry of a name-keyed map (`[exchanges.<name>]`), sorted by name, each as a table.
    /// Entries that are not tables are reported and left out.
    pub(crate) fn entries(&mut self) -> Vec<(String, Table<'a>)> {
        self.keys()
            .into_iter()
            .filter_map(|k| {
                let t = self.table(&k);
                t.map.is_some().then_some((k, t))
            })
            .collect()
    }

    /// Reports every key present but never read as an unknown key, with a suggestion when a
    /// known key is close.
    pub(crate) fn finish(self) {
        let Some(map) = self.map else { return };
        let mut unknown: Vec<&String> = map.keys().filter(|k| !self.asked.contains(*k)).collect();
        unknown.sort();
        for key in unknown {
            let suggestion = self
                .asked
                .iter()
                .map(|known| (distance(key, known), known))
                .filter(|(d, known)| *d <= 2.max(known.len() / 4))
                .min();
            let message = match suggestion {
                Some((_, known)) => format!("unknown key; did you mean `{known}`?"),
                None => "unknown key".to_owned(),
            };
            self.problem(key, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_edit_distance() {
        assert_eq!(distance("intervl", "interval"), 1);
        assert_eq!(distance("url", "url"), 0);
        assert_eq!(distance("", "abc"), 3);
    }
}
