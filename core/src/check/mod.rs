//! `postwire check`: a cross-object analysis of a finished stream. It finds what is schema-valid
//! and still breaks once applied: an analysis that never completes, a route to a subset nobody
//! defines, a PodDisruptionBudget that blocks every drain.
//!
//! Rules read one [`index::Index`] of the stream's objects (by kind and name, and their pod
//! templates by label), so each rule is linear in the objects it looks at, never all-pairs.
//! A finding is an `error` only where the live system certainly fails, a `warning` where it
//! depends on the cluster (an object may live outside the stream).

mod availability;
mod callers;
mod identity;
mod index;
mod istio;
mod istio_mtls;
mod network;
mod rollouts;
#[cfg(test)]
mod test_support;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::report::{self, Note, Report};

pub use crate::parsed::Parsed;
pub use index::{Index, Obj};

/// The annotation that silences rules on one object: `postwire.dev/check-ignore: rule-a,rule-b`
/// (`*` silences every rule).
pub const IGNORE_ANNOTATION: &str = "postwire.dev/check-ignore";

/// The report's `wiring` for findings.
pub const WIRING: &str = "check";

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The live system may break, depending on the cluster.
    Warning,
    /// The live system certainly breaks.
    Error,
}

impl Level {
    /// As printed: `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One thing that breaks once the stream is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub level: Level,
    /// Stable kebab-case rule id.
    pub rule: &'static str,
    /// `Kind/name` or `Kind/namespace/name`.
    pub object: String,
    /// 1-based document number among non-empty documents.
    pub document: usize,
    /// 1-based line of the object in the stream.
    pub line: usize,
    /// What happens in the cluster and how to fix it.
    pub message: String,
}

impl Finding {
    /// A finding on `obj`.
    pub fn new(level: Level, rule: &'static str, obj: &Obj, message: impl Into<String>) -> Finding {
        Finding { level, rule, object: obj.display(), document: obj.document, line: obj.line, message: message.into() }
    }

    /// The one stderr line: `error rule-id Kind/ns/name (document 3, line 12): message`.
    pub fn line(&self) -> String {
        format!(
            "{} {} {} (document {}, line {}): {}",
            self.level.as_str(),
            self.rule,
            self.object,
            self.document,
            self.line,
            self.message
        )
    }
}

/// When findings make a render fail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FailOn {
    /// Never: findings are reported and the render succeeds (the default, so that upgrading
    /// postwire never fails a render that used to succeed).
    #[default]
    Never,
    /// Any error-level finding fails the render.
    Error,
    /// Any finding fails the render.
    Warning,
}

/// The `check` section of a PostwireConfig.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckConfig {
    /// Which findings of the cross-object check fail a render: `never` (default: they go to the
    /// report and stderr only), `error`, or `warning`.
    #[serde(default)]
    pub fail_on: FailOn,
}

impl CheckConfig {
    /// Whether the section is all defaults.
    pub fn is_default(&self) -> bool {
        *self == CheckConfig::default()
    }
}

/// Check a finished stream. `namespace` is where objects without one go, when known.
pub fn check(text: &str, namespace: Option<&str>) -> Result<Vec<Finding>> {
    check_parsed(text, namespace, Parsed::default())
}

/// [`check`], reading the trees a render holds for documents of the stream instead of parsing
/// them again (see [`Parsed`]): the same findings.
pub fn check_parsed(text: &str, namespace: Option<&str>, parsed: Parsed<'_>) -> Result<Vec<Finding>> {
    Ok(findings(&Index::build_parsed(text, namespace, parsed)?))
}

/// [`check`] over an index of every object, including the kinds no rule reads
/// ([`index::UNREAD_KINDS`]): the reference the tests hold [`check`] to.
#[doc(hidden)]
pub fn check_reading_everything(text: &str, namespace: Option<&str>) -> Result<Vec<Finding>> {
    Ok(findings(&Index::build_everything(text, namespace)?))
}

fn findings(index: &Index) -> Vec<Finding> {
    let mut findings = Vec::new();
    rollouts::check(index, &mut findings);
    istio::check(index, &mut findings);
    network::check(index, &mut findings);
    availability::check(index, &mut findings);
    identity::check(index, &mut findings);
    findings.retain(|f| !index.silenced(f));
    findings.sort_by(|a, b| (a.document, a.line, a.rule).cmp(&(b.document, b.line, b.rule)));
    findings.dedup();
    findings
}

/// Put findings in the report as notes of the `check` wiring.
pub fn add_to_report(findings: &[Finding], report: &mut Report) {
    for f in findings {
        report.document(f.document, &f.object, None).notes.push(Note {
            wiring: WIRING.into(),
            level: match f.level {
                Level::Error => report::Level::Error,
                Level::Warning => report::Level::Warning,
            },
            message: f.message.clone(),
            rule: Some(f.rule.to_string()),
            line: Some(f.line),
        });
    }
}

/// The error that fails a render when `fail_on` says the findings are fatal.
pub fn enforce(findings: &[Finding], fail_on: FailOn) -> Result<()> {
    let fatal: Vec<&Finding> = findings
        .iter()
        .filter(|f| match fail_on {
            FailOn::Never => false,
            FailOn::Error => f.level == Level::Error,
            FailOn::Warning => true,
        })
        .collect();
    let Some(first) = fatal.first() else {
        return Ok(());
    };
    Err(Error::new(
        ErrorKind::Check,
        format!("{} finding(s) of the cross-object check; the first: {}", fatal.len(), first.line()),
    )
    .with_hint("fix the objects, silence one with the postwire.dev/check-ignore annotation, or set check.failOn"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDB: &str = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\n{ann}spec:\n  maxUnavailable: 0\n  selector:\n    matchLabels:\n      app: web\n";

    #[test]
    fn report_lines_are_the_finding_lines_and_annotations_silence() {
        let findings = check(&PDB.replace("{ann}", ""), None).unwrap();
        let lines: Vec<String> = findings.iter().map(Finding::line).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("error pdb-blocks-eviction PodDisruptionBudget/web (document 1, line 1): "));
        let mut report = Report::default();
        add_to_report(&findings, &mut report);
        report.finish();
        assert_eq!(report.findings(), lines);
        assert!(report.has_findings(false) && report.warnings().is_empty());
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["documents"][0]["notes"][0]["wiring"], "check");
        assert_eq!(json["documents"][0]["notes"][0]["rule"], "pdb-blocks-eviction");
        assert!(enforce(&findings, FailOn::Never).is_ok());
        assert_eq!(enforce(&findings, FailOn::Error).unwrap_err().exit_code(), 7);

        let one = "  annotations:\n    postwire.dev/check-ignore: pdb-blocks-eviction\n";
        let left: Vec<&str> = check(&PDB.replace("{ann}", one), None).unwrap().iter().map(|f| f.rule).collect();
        assert_eq!(left, ["selects-nothing"]);
        let all = "  annotations:\n    postwire.dev/check-ignore: '*'\n";
        assert!(check(&PDB.replace("{ann}", all), None).unwrap().is_empty());
    }
}
