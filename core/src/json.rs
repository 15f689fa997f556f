//! Fast JSON encoding of the large strings that cross the wasm boundary.
//!
//! A render request or response carries the whole manifest stream as one JSON string. serde_json
//! escapes it byte by byte, which inside wasm costs more than the render itself on a 2 MB stream;
//! [`push_string`] skips clean 8-byte words at once and produces exactly serde_json's bytes (the
//! tests compare them), so the wire format does not change.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether any byte of `word` is `"`, `\` or a control character below 0x20.
#[inline]
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_0x20 = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    (below_0x20 | has_zero(word ^ (ONES * b'"' as u64)) | has_zero(word ^ (ONES * b'\\' as u64))) != 0
}

/// Append `s` as a JSON string literal (with quotes), byte-identical to serde_json.
pub fn push_string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + bytes.len() / 16 + 2);
    out.push(b'"');
    let mut clean_from = 0;
    let mut i = 0;
    while i < bytes.len() {
        if i + 8 <= bytes.len() {
            let word = u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
            if !needs_escape(word) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            0..=0x1f => None,
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[clean_from..i]);
        match escape {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]),
        }
        i += 1;
        clean_from = i;
    }
    out.extend_from_slice(&bytes[clean_from..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) {
        let mut ours = Vec::new();
        push_string(&mut ours, s);
        assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(s).unwrap(), "{s:?}");
    }

    #[test]
    fn matches_serde_json_byte_for_byte() {
        let all_controls: String = (0u8..0x20).map(char::from).collect();
        for s in [
            "",
            "plain ascii text that is longer than eight bytes",
            "a\"b\\c\nd\re\tf\u{8}g\u{c}h",
            &all_controls,
            "ü and ∑ and 𝄞 and \u{2028}",
            "apiVersion: v1\r\nkind: ConfigMap\r\n",
            "\"\"\"\"\"\"\"\"\"\"",
            "1234567\"",
            "\u{7f}\u{85}",
        ] {
            check(s);
        }
        for len in 0..40 {
            check(&"x\"y".repeat(len));
        }
    }
}
