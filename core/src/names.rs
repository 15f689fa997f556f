//! The syntax Kubernetes gives names and label values, checked and made valid in one place.

/// Whether `name` is a DNS-1123 subdomain as Kubernetes checks object names
/// (`IsDNS1123Subdomain`): dot-separated parts of lower-case alphanumerics and `-`, each
/// alphanumeric at both ends, at most 253 characters in all. A part may be longer than 63.
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(|part| is_dns_part(part, 253))
}

/// Whether `name` is a domain name of [`is_dns_label`]s (each at most 63), at most 253
/// characters: what the config's annotation prefix and API group patterns require.
pub fn is_domain_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// Whether `label` is a DNS-1123 label: lower-case alphanumerics and `-`, alphanumeric at both
/// ends, at most 63 characters.
pub fn is_dns_label(label: &str) -> bool {
    is_dns_part(label, 63)
}

/// Lower-case alphanumerics and `-`, alphanumeric at both ends, at most `max` characters.
fn is_dns_part(part: &str, max: usize) -> bool {
    !part.is_empty()
        && part.len() <= max
        && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !part.starts_with('-')
        && !part.ends_with('-')
}

/// Whether `v` is a valid label value: empty, or at most 63 of `A-Za-z0-9-_.` with an
/// alphanumeric at both ends.
pub fn is_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// `s` made a valid label value: every character other than `A-Za-z0-9-_.` becomes
/// `replacement`, the ends are trimmed to alphanumerics, and it is cut to 63 characters (then
/// trimmed again). It may come out empty.
///
/// Templates' `label_value` filter replaces with `-`, the usual word separator of names; the
/// Datadog wiring with `_`, as Datadog's own tag normalisation does, so a tag keeps the value
/// its label has (DataDog/datadog-agent@45799c84 `pkg/trace/traceutil/normalize.go:131`).
pub fn label_value(s: &str, replacement: char) -> String {
    let mapped: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { replacement })
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    // Only ASCII is left, so 63 characters are 63 bytes.
    let cut = &trimmed[..trimmed.len().min(63)];
    cut.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_label_values() {
        assert!(is_dns_subdomain("apps.kruise.io") && is_dns_subdomain("a"));
        assert!(
            !is_dns_subdomain("Apps") && !is_dns_subdomain("a..b") && !is_dns_subdomain("-a") && !is_dns_subdomain("")
        );
        assert!(!is_dns_subdomain(&"a".repeat(254)) && !is_dns_label(&"a".repeat(64)));
        // Object names may have parts longer than a DNS label; the config's domains may not.
        assert!(is_dns_subdomain(&"a".repeat(64)) && is_dns_subdomain(&format!("{}.b", "a".repeat(100))));
        assert!(!is_domain_name(&"a".repeat(64)) && is_domain_name("checksum.example.com"));
        assert_eq!(label_value("-Team: Payments/EU_1.", '-'), "Team--Payments-EU_1");
        assert_eq!(label_value("sha256:abc", '_'), "sha256_abc");
        assert_eq!(label_value(&"x".repeat(70), '-'), "x".repeat(63));
        assert_eq!(label_value(&format!("{}.y", "x".repeat(62)), '-'), "x".repeat(62));
        assert_eq!(label_value("é", '_'), "");
        for v in ["", "a", "a.b-c_d"] {
            assert!(is_label_value(v), "{v}");
        }
        for v in ["-a", "a-", "a b", &"x".repeat(64)] {
            assert!(!is_label_value(v), "{v}");
        }
    }
}
