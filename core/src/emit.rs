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

    /// Strings that a YAML 1.1 or 1.2 reader turns into something else when written plain.
    pub const TRAPS: &[&str] = &[
        "on",
        "off",
        "yes",
        "no",
        "y",
        "n",
        "Y",
        "N",
        "On",
        "OFF",
        "~",
        "=",
        "<<",
        "0755",
        "0o755",
        "1e3",
        ".inf",
        "-.inf",
        ".nan",
        "1_000",
        "2001-01-01",
        "12:30:45",
        "190:20:30",
        "0x1F",
        "+1",
        "-",
        "",
        " lead",
        "a: b",
        "#x",
        "true",
        "null",
        "NULL",
        "a\u{2028}b",
        "a\u{85}b",
        "tab\there",
        "quote\"back\\slash",
        "08",
        "3e3",
        "0b101",
    ];

    #[test]
    fn traps_are_never_plain() {
        for t in TRAPS {
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
        for t in TRAPS {
            let q = double_quoted(t);
            let back: String = serde_json::from_str(&q).expect("valid JSON string");
            assert_eq!(&back, t);
        }
    }
}
