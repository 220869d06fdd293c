//! A small JSON scanner for the hot path of stream frames: the members of an object as
//! (key, raw value) slices of the frame, the first element of an array, integers and quoted
//! integers. Nothing is allocated and nothing is unescaped (the keys and values it is asked
//! for never hold escapes); a frame whose structure breaks is reported as `None`.
//!
//! It is not a validator: it checks the structure it walks (strings closed, brackets
//! balanced, members separated), which is what tells a frame from garbage.

/// The members of the JSON object `text`: `(key, raw value)` pairs, the raw value trimmed.
/// `None` when `text` is not an object or its structure breaks.
pub fn members(text: &str) -> Option<Members<'_>> {
    let b = text.as_bytes();
    let i = skip_ws(b, 0);
    (b.get(i) == Some(&b'{')).then_some(Members {
        text,
        i: i + 1,
        first: true,
        broken: false,
    })
}

/// See [`members`]. Check [`Members::broken`] after iterating.
pub struct Members<'a> {
    text: &'a str,
    i: usize,
    first: bool,
    broken: bool,
}

impl Members<'_> {
    /// True when the iteration stopped on a broken structure, not at the object's end.
    pub fn broken(&self) -> bool {
        self.broken
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.broken {
            return None;
        }
        let b = self.text.as_bytes();
        let mut i = skip_ws(b, self.i);
        match b.get(i) {
            Some(b'}') => {
                self.i = i + 1;
                return None;
            }
            Some(b',') if !self.first => i = skip_ws(b, i + 1),
            Some(b'"') if self.first => {}
            _ => {
                self.broken = true;
                return None;
            }
        }
        self.first = false;
        let Some(key_end) = string_end(b, i) else {
            self.broken = true;
            return None;
        };
        let key = &self.text[i + 1..key_end - 1];
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            self.broken = true;
            return None;
        }
        let start = skip_ws(b, i + 1);
        let Some(end) = value_end(b, start) else {
            self.broken = true;
            return None;
        };
        self.i = end;
        Some((key, &self.text[start..end]))
    }
}

/// The first element of the JSON array `raw` (trimmed); `None` when empty or not an array.
pub fn first_element(raw: &str) -> Option<&str> {
    let b = raw.as_bytes();
    if b.first() != Some(&b'[') {
        return None;
    }
    let start = skip_ws(b, 1);
    if b.get(start) == Some(&b']') {
        return None;
    }
    let end = value_end(b, start)?;
    Some(&raw[start..end])
}

/// An integer written as a number (`123`) or as a quoted number (`"123"`, OKX's way).
pub fn int(raw: &str) -> Option<i64> {
    let s = raw
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(raw);
    s.parse().ok()
}

/// The content of a JSON string `raw` (quotes removed, escapes left as written).
pub fn string(raw: &str) -> Option<&str> {
    raw.strip_prefix('"')?.strip_suffix('"')
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index after the string starting at `i` (its opening quote).
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'"' => return Some(j + 1),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
}

/// The index after the value starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while let Some(c) = b.get(j) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_members_skipping_nested_values() {
        let t = r#" {"e":"depthUpdate", "E" : 17,"b":[["1","2"],["3","}"]],"o":{"x":[1,{"y":"\"]"}]},"u":-5} "#;
        let mut m = members(t).unwrap();
        let got: Vec<_> = m.by_ref().collect();
        assert!(!m.broken());
        assert_eq!(
            got,
            [
                ("e", r#""depthUpdate""#),
                ("E", "17"),
                ("b", r#"[["1","2"],["3","}"]]"#),
                ("o", r#"{"x":[1,{"y":"\"]"}]}"#),
                ("u", "-5"),
            ]
        );
        assert_eq!(int("17"), Some(17));
        assert_eq!(int(r#""1700""#), Some(1700));
        assert_eq!(int(r#""x""#), None);
        assert_eq!(string(r#""depthUpdate""#), Some("depthUpdate"));
    }

    #[test]
    fn broken_structures_are_reported() {
        for t in [
            r#"{"e":"x""#,
            r#"{"e" "x"}"#,
            r#"{"e":[1,2}"#,
            r#"{"e":1,,"f":2}"#,
            r#"{e:1}"#,
        ] {
            let mut m = members(t).unwrap();
            let _ = m.by_ref().count();
            assert!(m.broken(), "{t}");
        }
        assert!(members("[1]").is_none());
        assert!(members("").is_none());
        assert_eq!(first_element(r#"[{"a":1},{"b":2}]"#), Some(r#"{"a":1}"#));
        assert_eq!(first_element("[]"), None);
        assert_eq!(first_element("{}"), None);
    }
}
