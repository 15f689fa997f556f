//! `${NAME}` in the platform's config values, from the request's [`ContextV1::env`].
//!
//! Argo CD gives a plugin its build environment (`ARGOCD_APP_NAME`, `ARGOCD_APP_REVISION`, …)
//! and the application's own variables (`ARGOCD_ENV_*`); a config file or `--set` value can
//! use them, so one platform config serves every application:
//!
//! ```yaml
//! checksum:
//!   annotationPrefix: ${ARGOCD_ENV_TEAM:-platform}.example.com/
//! ```
//!
//! `${NAME}` is the variable's value, `${NAME:-default}` the default when it is unset or empty,
//! `$${` a literal `${`. A variable that is not set and has no default is an error naming it:
//! an empty value would silently change what the config means. Only string scalars are
//! expanded, never keys; a chart's own `PostwireConfig` is not expanded (the chart is
//! third-party input, see the README's Trust section).
//!
//! [`ContextV1::env`]: crate::wire::ContextV1::env

use std::collections::BTreeMap;

use crate::config::{Spanned, Value};
use crate::error::{Error, ErrorKind, Result};

/// Expand every scalar of `value` in place.
pub fn expand(value: &mut Spanned, env: &BTreeMap<String, String>) -> Result<()> {
    match &mut value.value {
        Value::Null => Ok(()),
        Value::Scalar { text, .. } => {
            if text.contains('$') {
                *text = expand_str(text, env).map_err(|message| {
                    let mut err = Error::new(ErrorKind::Config, message).with_origin(value.origin.source.clone());
                    if let (Some(line), Some(column)) = (value.origin.line, value.origin.column) {
                        err = err.at(line, column);
                    }
                    let known: Vec<&str> = env.keys().map(String::as_str).collect();
                    err.with_hint(if known.is_empty() {
                        "no variables are set here; give a default (${NAME:-value}) or write $${ for a literal ${"
                            .to_string()
                    } else {
                        format!("set here: {}; or give a default (${{NAME:-value}})", known.join(", "))
                    })
                })?;
            }
            Ok(())
        }
        Value::Seq(items) => items.iter_mut().try_for_each(|item| expand(item, env)),
        Value::Map(entries) => entries.iter_mut().try_for_each(|(_, v)| expand(v, env)),
    }
}

/// Expand one string; the error says which variable is missing or what is malformed.
pub fn expand_str(text: &str, env: &BTreeMap<String, String>) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix("${") {
            out.push_str("${");
            rest = tail;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(close) = body.find('}') else {
            return Err(format!("`${{` without a closing `}}` in `{text}`"));
        };
        let inner = &body[..close];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        if !valid {
            return Err(format!("`${{{inner}}}` is not a variable reference (use ${{NAME}} or ${{NAME:-default}})"));
        }
        match (env.get(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(format!("`${{{name}}}` is not set")),
        }
        rest = &body[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        [("ARGOCD_APP_NAME", "web"), ("ARGOCD_ENV_TEAM", "pay"), ("EMPTY", "")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expands_names_defaults_and_escapes() {
        let e = env();
        let cases = [
            ("plain", "plain"),
            ("${ARGOCD_APP_NAME}", "web"),
            ("${ARGOCD_ENV_TEAM}.example.com/", "pay.example.com/"),
            ("a-${ARGOCD_APP_NAME}-${ARGOCD_ENV_TEAM}", "a-web-pay"),
            ("${MISSING:-fallback}", "fallback"),
            ("${EMPTY:-fallback}", "fallback"),
            ("${ARGOCD_APP_NAME:-x}", "web"),
            ("$${ARGOCD_APP_NAME}", "${ARGOCD_APP_NAME}"),
            ("cost $5 and $HOME", "cost $5 and $HOME"),
            ("${MISSING:-}", ""),
        ];
        for (input, want) in cases {
            assert_eq!(expand_str(input, &e).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn missing_and_malformed_references_are_errors() {
        let e = env();
        assert_eq!(expand_str("${MISSING}", &e).unwrap_err(), "`${MISSING}` is not set");
        assert_eq!(expand_str("${EMPTY}", &e).unwrap_err(), "`${EMPTY}` is not set");
        assert!(expand_str("${A", &e).unwrap_err().contains("without a closing"));
        assert!(expand_str("${a b}", &e).unwrap_err().contains("not a variable reference"));
        assert!(expand_str("${1X}", &e).unwrap_err().contains("not a variable reference"));
    }

    #[test]
    fn config_errors_name_the_source_line_and_known_variables() {
        let source = crate::config::file_source("p.yaml", "checksum:\n  annotationPrefix: ${NOPE}/\n").unwrap();
        let mut value = source.value;
        let err = expand(&mut value, &env()).unwrap_err().to_string();
        assert!(err.starts_with("p.yaml line 2"), "{err}");
        assert!(err.contains("`${NOPE}` is not set") && err.contains("ARGOCD_ENV_TEAM"), "{err}");
    }
}
