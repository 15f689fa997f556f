//! How the EKS pod-identity webhook (Go) reads the annotation values it acts on, so postwire
//! reads them the same way: a value Go rejects is a value the webhook ignores.

/// Go's `strconv.ParseBool`, which reads `eks.amazonaws.com/sts-regional-endpoints`
/// (aws/amazon-eks-pod-identity-webhook@3bf80a34 `pkg/cache/cache.go:238-246`).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A token expiration as the webhook reads it: `strconv.ParseInt(s, 10, 64)`, then at least
/// `min` (`pkg/cache/cache.go:248-255`, `pkg/handler/handler.go:296-303`,
/// `pkg/validation.go:68`). Rust's `i64` parser takes the same signs and digits.
pub fn parse_expiration(s: &str, min: u64) -> Option<u64> {
    s.parse::<i64>().ok().map(|e| u64::try_from(e).unwrap_or(0).max(min))
}

/// The first record of `s` as Go's `encoding/csv` Reader (default settings) reads it, which is
/// how the webhook splits `eks.amazonaws.com/skip-containers` (`pkg/handler/handler.go:154-170`):
/// fields are not trimmed, `"` quotes a field (`""` is a quote inside one), empty lines before
/// the record are skipped, and a malformed record (a bare `"` in an unquoted field, text after a
/// closing quote, an unclosed quote) or none at all gives None: the webhook then skips nothing.
/// The `csv` crate accepts malformed quoting that Go rejects, so it would not agree.
pub fn csv_first_record(s: &str) -> Option<Vec<String>> {
    let text = s.trim_start_matches(['\r', '\n']).replace("\r\n", "\n");
    if text.is_empty() {
        return None;
    }
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => break,
                    c => field.push(c),
                }
            }
            fields.push(field);
            match chars.next() {
                Some(',') => continue,
                None | Some('\n') => return Some(fields),
                Some(_) => return None,
            }
        }
        loop {
            match chars.next() {
                Some(',') => break,
                None | Some('\n') => {
                    fields.push(field);
                    return Some(fields);
                }
                Some('"') => return None,
                Some(c) => field.push(c),
            }
        }
        fields.push(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_read_like_go() {
        let rec = |s: &str| csv_first_record(s);
        assert_eq!(rec("a,b"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(rec(" a , b"), Some(vec![" a ".into(), " b".into()]));
        assert_eq!(rec("\"a,b\",c"), Some(vec!["a,b".into(), "c".into()]));
        assert_eq!(rec("\"a\"\"b\""), Some(vec!["a\"b".into()]));
        assert_eq!(rec("a,\n b"), Some(vec!["a".into(), "".into()]));
        assert_eq!(rec("\n\nx"), Some(vec!["x".into()]));
        assert_eq!(rec("a,"), Some(vec!["a".into(), "".into()]));
        assert_eq!(rec(""), None);
        assert_eq!(rec("a\"b"), None);
        assert_eq!(rec("\"a\"b"), None);
        assert_eq!(rec("\"a"), None);
    }

    #[test]
    fn bools_and_expirations_read_like_go() {
        assert_eq!(parse_bool("T"), Some(true));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_expiration("+3600", 600), Some(3600));
        assert_eq!(parse_expiration("-1", 600), Some(600));
        assert_eq!(parse_expiration("1h", 600), None);
    }
}
