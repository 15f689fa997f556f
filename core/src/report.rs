//! What a render changed and why, per document and field path. Serialized as JSON by hosts
//! (`postwire render --report FILE`). Secret values never appear in it.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// The `apiVersion` of a written report (`--report`): its own format's version, which moves
/// with postwire's messages (`wire::API_VERSION`) but is read by people's tools on its own.
pub const API_VERSION: &str = "postwire.dev/v1alpha1";

/// The report of one render.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Counts over the whole stream.
    pub summary: Summary,
    /// Documents a wiring changed or has something to say about, in stream order.
    pub documents: Vec<DocumentReport>,
    /// What Argo CD needs so as not to fight controllers that change the objects at run time
    /// (Argo Rollouts), when a wiring has something to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argocd: Option<ArgoCd>,
    /// Where each (document, object) entry is in `documents`, while a render builds the report.
    #[serde(skip)]
    index: HashMap<(usize, String), usize>,
    /// The `ignoreDifferences` entries so far, to add each once without a scan per entry.
    #[serde(skip)]
    ignored: HashSet<IgnoreDifference>,
}

/// Counts over the whole stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Non-empty input documents.
    pub documents: usize,
    /// Documents whose text changed.
    pub changed: usize,
    /// Documents removed (in-stream `PostwireConfig`).
    pub removed: usize,
}

/// One document's entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentReport {
    /// 1-based number among non-empty input documents.
    pub document: usize,
    /// `Kind/name` or `Kind/namespace/name`.
    pub object: String,
    /// The chart template it came from, when the input says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Field changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Things a wiring decided not to do, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
}

/// What happened to a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// The field was added.
    Added,
    /// The field had another value.
    Updated,
    /// The document was removed.
    Removed,
}

/// One field change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The wiring that made it (`checksum`).
    pub wiring: String,
    /// Dotted path of the mapping, e.g. `spec.template.metadata.annotations`.
    pub path: String,
    /// The key within it.
    pub key: String,
    /// What happened.
    pub action: Action,
    /// Why, in words.
    pub reason: String,
}

/// How much a note matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Level {
    /// For the curious.
    Info,
    /// Probably not what the user wants.
    Warning,
    /// Certainly breaks once applied (a finding of the cross-object check).
    Error,
}

/// A decision a wiring made without changing anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    /// The wiring.
    pub wiring: String,
    /// How much it matters.
    pub level: Level,
    /// What and why.
    pub message: String,
    /// The rule of a cross-object check finding (`wiring: check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The line of the object in the stream, for a check finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// Settings for the Argo CD Application that syncs the render.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgoCd {
    /// Entries for `spec.ignoreDifferences`, in the order the wirings found them.
    pub ignore_differences: Vec<IgnoreDifference>,
    /// Entries for `spec.syncPolicy.syncOptions`.
    pub sync_options: Vec<String>,
}

/// One `spec.ignoreDifferences` entry of an Argo CD Application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreDifference {
    /// API group (`""` for the core group).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace, when the object has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// RFC 6901 pointers of fields to ignore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// jq path expressions of fields to ignore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jq_path_expressions: Vec<String>,
}

impl Report {
    /// Add an `ignoreDifferences` entry (once), with the sync options that make Argo CD
    /// respect it.
    pub fn ignore_difference(&mut self, entry: IgnoreDifference) {
        let argocd = self.argocd.get_or_insert_with(ArgoCd::default);
        // A report read back from JSON has entries the set has not seen.
        if self.ignored.len() != argocd.ignore_differences.len() {
            self.ignored = argocd.ignore_differences.iter().cloned().collect();
        }
        if self.ignored.insert(entry.clone()) {
            argocd.ignore_differences.push(entry);
        }
        for option in ["ApplyOutOfSyncOnly=true", "RespectIgnoreDifferences=true"] {
            if !argocd.sync_options.iter().any(|o| o == option) {
                argocd.sync_options.push(option.to_string());
            }
        }
    }

    /// The entry for a document's object, created on first use. Entries are put in document
    /// order by [`Report::finish`].
    pub fn document(&mut self, document: usize, object: &str, source: Option<&str>) -> &mut DocumentReport {
        let key = (document, object.to_string());
        let pos = match self.index.get(&key) {
            Some(&pos) => pos,
            None => {
                self.documents.push(DocumentReport {
                    document,
                    object: object.to_string(),
                    source: source.map(String::from),
                    ..DocumentReport::default()
                });
                self.index.insert(key, self.documents.len() - 1);
                self.documents.len() - 1
            }
        };
        &mut self.documents[pos]
    }

    /// Drop the changes recorded for a document (it was left unchanged after all); whether
    /// there were any.
    pub fn forget_changes(&mut self, document: usize) -> bool {
        let mut any = false;
        for d in self.documents.iter_mut().filter(|d| d.document == document) {
            any |= !d.changes.is_empty();
            d.changes.clear();
        }
        any
    }

    /// Sort the entries into document order (stable within a document) and drop empty ones.
    pub fn finish(&mut self) {
        self.index.clear();
        self.documents.retain(|d| !d.changes.is_empty() || !d.notes.is_empty());
        self.documents.sort_by_key(|d| d.document);
    }

    /// The report as `postwire render --report FILE` writes it (and the playground shows it):
    /// led by its format version and the postwire version that wrote it, pretty-printed, with
    /// a final newline.
    pub fn to_versioned_json(&self) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Versioned<'a> {
            api_version: &'a str,
            kind: &'a str,
            postwire_version: &'a str,
            #[serde(flatten)]
            report: &'a Report,
        }
        let versioned =
            Versioned { api_version: API_VERSION, kind: "Report", postwire_version: crate::VERSION, report: self };
        serde_json::to_string_pretty(&versioned).expect("report serializes") + "\n"
    }

    /// The cross-object check's findings, one line each as `postwire check` prints them:
    /// `error rule-id Kind/ns/name (document 3, line 12): message`.
    pub fn findings(&self) -> Vec<String> {
        self.documents
            .iter()
            .flat_map(|d| {
                d.notes.iter().filter_map(move |n| {
                    let rule = n.rule.as_ref()?;
                    let level = if n.level == Level::Error { "error" } else { "warning" };
                    Some(format!(
                        "{level} {rule} {} (document {}, line {}): {}",
                        d.object,
                        d.document,
                        n.line.unwrap_or_default(),
                        n.message
                    ))
                })
            })
            .collect()
    }

    /// Whether a finding fails `postwire check`: an error, or with `strict` any finding.
    pub fn has_findings(&self, strict: bool) -> bool {
        let failing = |n: &Note| n.rule.is_some() && (n.level == Level::Error || (strict && n.level == Level::Warning));
        self.documents.iter().flat_map(|d| &d.notes).any(failing)
    }

    /// All warnings but the check's findings, as `document N (object): message` lines.
    pub fn warnings(&self) -> Vec<String> {
        self.documents
            .iter()
            .flat_map(|d| {
                d.notes
                    .iter()
                    .filter(|n| n.level == Level::Warning && n.rule.is_none())
                    .map(move |n| format!("document {} ({}): {}: {}", d.document, d.object, n.wiring, n.message))
            })
            .collect()
    }
}
