//! Reading manifests with a size cap, so hostile or mistaken input (`render -f /dev/zero`, a
//! runaway pipe) ends with a clear error instead of exhausting memory. The request to
//! plugin.wasm carries the text JSON-encoded; control characters, which YAML does not allow
//! (YAML 1.2.2 §5.1: no C0 control character but TAB, LF and CR), are refused up front, so the
//! encoding grows the text at most 2x (`"` and `\` escapes) rather than 6x (`\u0000`).

use std::io::Read;

/// The default cap on the size of the manifests postwire reads, in MiB.
pub const DEFAULT_MAX_INPUT_MIB: u64 = 128;
/// The largest cap a user may set, in MiB (plugin.wasm addresses at most 4 GiB).
pub const MAX_INPUT_MIB_LIMIT: u64 = 1024;
/// The variable that sets the cap.
pub const ENV: &str = "POSTWIRE_MAX_INPUT_MIB";

/// The cap in bytes: `flag` (MiB), else `POSTWIRE_MAX_INPUT_MIB`, else the default.
pub fn max_input_bytes(flag: Option<u64>) -> Result<u64, String> {
    let mib = match (flag, std::env::var(ENV)) {
        (Some(mib), _) => check(mib, "--max-input-mib", &mib.to_string())?,
        (None, Ok(text)) => {
            let mib = text.trim().parse::<u64>().map_err(|_| range_error(ENV, &text))?;
            check(mib, ENV, &text)?
        }
        (None, Err(_)) => DEFAULT_MAX_INPUT_MIB,
    };
    Ok(mib << 20)
}

fn range_error(name: &str, text: &str) -> String {
    format!("{name}={text}: expected a whole number of MiB from 1 to {MAX_INPUT_MIB_LIMIT}")
}

fn check(mib: u64, name: &str, text: &str) -> Result<u64, String> {
    if (1..=MAX_INPUT_MIB_LIMIT).contains(&mib) {
        Ok(mib)
    } else {
        Err(range_error(name, text))
    }
}

/// Read all of `reader` as UTF-8 text of at most `limit` bytes without control characters.
/// `name` names the input in errors.
pub fn read_text(reader: impl Read, limit: u64, name: &str) -> Result<String, String> {
    let mut bytes = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| format!("reading {name}: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(name, limit));
    }
    let text = String::from_utf8(bytes).map_err(|e| format!("{name}: not UTF-8 text: {e}"))?;
    check_characters(&text, name)?;
    Ok(text)
}

/// The error for input over the cap.
pub fn too_large(name: &str, limit: u64) -> String {
    format!("{name} is larger than {} MiB, the input size limit (--max-input-mib or {ENV} raises it)", limit >> 20)
}

/// Refuse control characters YAML does not allow, naming the first one's line.
pub fn check_characters(text: &str, name: &str) -> Result<(), String> {
    let is_bad = |b: u8| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r');
    // Blocks without an early exit inside compile to vector code: several times faster on
    // megabytes than stopping at each byte; the block that holds one is then searched.
    const BLOCK: usize = 64;
    let bytes = text.as_bytes();
    let bad = bytes
        .chunks(BLOCK)
        .position(|block| block.iter().fold(false, |any, &b| any | is_bad(b)))
        .and_then(|i| bytes[i * BLOCK..].iter().position(|&b| is_bad(b)).map(|j| i * BLOCK + j));
    match bad {
        None => Ok(()),
        Some(at) => {
            let line = text.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(format!(
                "{name} line {line}: control character 0x{:02x}: YAML streams hold only tabs, line breaks and printable characters",
                text.as_bytes()[at]
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_over_the_cap_stops_reading() {
        // An endless source: the old reader never stopped.
        let endless = std::io::repeat(b'a');
        let err = read_text(endless, 1 << 20, "stdin").unwrap_err();
        assert!(err.contains("larger than 1 MiB") && err.contains(ENV), "{err}");
        assert_eq!(read_text(&b"kind: A\n"[..], 8, "stdin").unwrap(), "kind: A\n");
    }

    #[test]
    fn control_characters_are_refused_with_their_line() {
        let err = read_text(&b"a: 1\nb: \0\n"[..], 1 << 20, "in.yaml").unwrap_err();
        assert!(err.starts_with("in.yaml line 2: control character 0x00"), "{err}");
        assert!(read_text(&b"a:\t1\r\n"[..], 1 << 20, "in.yaml").is_ok());
    }

    #[test]
    fn the_cap_comes_from_the_flag_then_the_environment() {
        assert_eq!(max_input_bytes(Some(3)).unwrap(), 3 << 20);
        assert!(max_input_bytes(Some(0)).is_err());
        assert!(max_input_bytes(Some(MAX_INPUT_MIB_LIMIT + 1)).is_err());
    }
}
