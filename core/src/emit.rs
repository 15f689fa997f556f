//! YAML text for values postwire writes.
//!
//! PyYAML (YAML 1.1) and Go's yaml.v2 (the decoder behind kubectl and Helm) disagree on many
//! plain spellings (`y`, `0o7`, `1e3`, `190:20:30`…), so postwire writes a key plain only when
//! it is unambiguous to every reader, and writes every string value double-quoted.

/// Whether `s` reads as the same string under YAML 1.1 and 1.2 when written plain.
///
/// Deliberately conservative: a letter first, then only letters, digits and `._/-`, and not
/// one of the YAML 1.1 boolean or null words.
pub fn is_plain_safe(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if !first.is_ascii_alphabetic() {
        return false;
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    !matches!(lower.as_str(), "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null")
}

/// `s` as a YAML double-quoted scalar, valid for YAML 1.1 and 1.2 readers and as JSON.
pub fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // C0 and C1 controls, DEL, and the characters YAML 1.1 treats as line breaks or a BOM.
            c if (c as u32) < 0x20
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A mapping key: plain when safe (block context only), double-quoted otherwise.
pub fn key(s: &str, flow: bool) -> String {
    if !flow && is_plain_safe(s) {
        s.to_string()
    } else {
        double_quoted(s)
    }
}

/// A string value: always double-quoted, so no reader takes it for a bool, number or date.
pub fn string_value(s: &str) -> String {
    double_quoted(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::all_traps;

    #[test]
    fn traps_are_never_plain() {
        for t in all_traps() {
            assert!(!is_plain_safe(t), "{t:?} must be quoted");
            assert!(key(t, false).starts_with('"'));
        }
    }

    #[test]
    fn ordinary_keys_stay_plain() {
        for k in ["checksum/config", "app.kubernetes.io/name", "checksum/secret-db-1"] {
            assert_eq!(key(k, false), k);
            assert_eq!(key(k, true), format!("\"{k}\""));
        }
    }

    #[test]
    fn double_quoted_escapes_are_json_compatible() {
        for t in all_traps() {
            let q = double_quoted(t);
            let back: String = serde_json::from_str(&q).expect("valid JSON string");
            assert_eq!(back, t);
        }
    }

    /// YAML 1.1 and 1.2 allow only printable characters in a stream (tab, LF, CR, NEL and
    /// U+0020..U+D7FF, U+E000..U+FFFD, U+10000 and up); everything else, and the characters
    /// YAML 1.1 reads as line breaks or a BOM, must be escaped.
    #[test]
    fn double_quoted_escapes_what_yaml_forbids_or_breaks_on() {
        let must_escape = |c: char| {
            let printable =
                matches!(c, '\t' | ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}') || c >= '\u{10000}';
            !printable || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
        };
        let chars = (0u32..0x110000).filter_map(char::from_u32).filter(|&c| must_escape(c) && c != '\n');
        for c in chars {
            let q = double_quoted(&format!("a{c}b"));
            assert!(!q.contains(c), "U+{:04X} is written unescaped: {q:?}", c as u32);
        }
        for t in all_traps() {
            let q = double_quoted(t);
            assert!(!q.chars().any(|c| must_escape(c) || c == '\n'), "{t:?} is written as {q:?}");
        }
    }
}
