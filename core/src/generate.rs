//! New documents: validated, marked as generated, appended after the input in the order the
//! wirings generate them, with Helm 4's filename annotation when the input uses it (so
//! `helm template --output-dir` and `--show-only` see them as files of their own).

use crate::emit::Value;
use crate::error::{Error, ErrorKind, Result};
pub use crate::names::is_dns_subdomain;
use crate::resource::{group_of, Place};
use crate::stream::FILENAME_ANNOTATION;
use crate::workspace::Workspace;

/// The annotation every generated object carries: the wiring that made it.
pub const GENERATED_ANNOTATION: &str = "postwire.dev/generated-by";

fn invalid(wiring: &str, what: String) -> Error {
    Error::new(ErrorKind::Wiring, format!("{wiring} would generate an invalid object: {what}"))
}

/// What to do when the render already has an object that a wiring would generate (same group,
/// kind, namespace and name) and postwire did not generate it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnConflict {
    /// Stop with an error naming both (default).
    #[default]
    Error,
    /// Keep the chart's object and generate nothing.
    Skip,
    /// Drop the chart's object in favour of the generated one.
    Replace,
}

/// Append `object` to the stream as a new document; returns its segment, or None when a
/// conflicting chart object is kept (`OnConflict::Skip`).
///
/// An object this wiring generated in an earlier run (it carries [`GENERATED_ANNOTATION`]) is
/// regenerated in place of the old one, so running postwire over its own output changes nothing.
pub fn generate(ws: &mut Workspace<'_>, wiring: &str, object: Value, on_conflict: OnConflict) -> Result<Option<usize>> {
    let Value::Map(mut entries) = object else {
        return Err(invalid(wiring, "not a mapping".into()));
    };
    let field = |entries: &[(String, Value)], key: &str| match entries.iter().find(|(k, _)| k == key) {
        Some((_, Value::Str(s))) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let api_version = field(&entries, "apiVersion").ok_or_else(|| invalid(wiring, "no apiVersion".into()))?;
    let kind = field(&entries, "kind").ok_or_else(|| invalid(wiring, "no kind".into()))?;
    let Some((_, Value::Map(metadata))) = entries.iter_mut().find(|(k, _)| k == "metadata") else {
        return Err(invalid(wiring, format!("{kind} has no metadata")));
    };
    let name = field(metadata, "name").ok_or_else(|| invalid(wiring, format!("{kind} has no metadata.name")))?;
    if !is_dns_subdomain(&name) {
        return Err(invalid(wiring, format!("{kind} name `{name}` is not a DNS-1123 subdomain")));
    }
    let namespace = field(metadata, "namespace");
    let group = group_of(&api_version).to_string();
    if let Some(existing) = ws.find(&group, &kind, namespace.as_deref(), &name).cloned() {
        let tree = ws.tree(existing.segment);
        let ours = tree.str_at(existing.node, &["metadata", "annotations", GENERATED_ANNOTATION]) == Some(wiring);
        let whole_document = existing.place == Place::Root;
        match (ours, on_conflict) {
            (true, _) if whole_document => ws.regenerate(existing.segment),
            (false, OnConflict::Skip) => return Ok(None),
            (false, OnConflict::Replace) if whole_document => ws.regenerate(existing.segment),
            _ => {
                return Err(Error::new(
                    ErrorKind::Wiring,
                    format!(
                        "{wiring} would generate {kind}/{name}, which document {} already defines",
                        existing.doc_number
                    ),
                )
                .with_hint("remove the chart's object, or choose what to do on conflicts (skip or replace)"))
            }
        }
    }
    let annotations = match metadata.iter_mut().find(|(k, _)| k == "annotations") {
        Some((_, Value::Map(a))) => a,
        _ => {
            metadata.push(("annotations".into(), Value::Map(Vec::new())));
            let Some((_, Value::Map(a))) = metadata.last_mut() else { unreachable!("just pushed") };
            a
        }
    };
    // A template that copies its source's annotations brings that object's marks along:
    // postwire's own replace them, so no key is written twice.
    let mut mark = |key: &str, value: String| {
        annotations.retain(|(k, _)| k != key);
        annotations.push((key.into(), Value::str(value)));
    };
    mark(GENERATED_ANNOTATION, wiring.to_string());
    if ws.uses_filename_annotation() {
        mark(FILENAME_ANNOTATION, format!("postwire/{wiring}.yaml"));
    }
    let (text, tree) = crate::emit::block_document_tree(&entries, ws.newline());
    ws.append_written(text, tree).map(Some)
}
