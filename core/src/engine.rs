//! The render pipeline: split, peek, parse what is needed, resolve config, run the wirings in
//! order (committing each one's edits), emit.

use std::collections::BTreeSet;

use crate::config::{self, OnUneditable, PostwireConfig, Source, Spanned};
use crate::edit::Uneditable;
use crate::error::{Error, ErrorKind, Result};
use crate::report::{Action, Change, Level, Note, Report};
use crate::resource;
use crate::stream::FILENAME_ANNOTATION;
use crate::wire::{ChartConfig, RenderRequestV1, RenderResponseV1};
use crate::wiring;
use crate::workspace::Workspace;

/// Take `PostwireConfig` documents out of the stream: their segments and config sources.
fn take_config_documents(ws: &mut Workspace<'_>) -> Result<(Vec<usize>, Vec<Source>)> {
    let candidates: Vec<usize> =
        ws.segments().filter(|&i| ws.needs_parse_to_know(i) || ws.peeked_kind(i) == Some(config::KIND)).collect();
    let mut segments = Vec::new();
    let mut sources = Vec::new();
    for i in candidates {
        ws.parse(i)?;
        let tree = ws.tree(i);
        let Some(root) = tree.root().filter(|&r| tree.is_mapping(r)) else {
            continue;
        };
        let is_config = tree.str_at(root, &["kind"]) == Some(config::KIND)
            && tree.str_at(root, &["apiVersion"]).is_some_and(|v| resource::group_of(v) == "postwire.dev");
        if !is_config {
            continue;
        }
        let name = format!("document {} (PostwireConfig)", ws.number(i));
        let loc = ws.location(i, Some(config::KIND.to_string()));
        let mut value = Spanned::from_tree(tree, root, &name).map_err(|e| e.in_document(loc.clone()))?;
        // Helm 4 stamps every document with its filename; that is not config.
        strip_helm_annotation(&mut value);
        config::check_type_meta(&value, &name)?;
        sources.push(Source { name, value });
        segments.push(i);
        ws.remove(i);
    }
    if segments.len() > 1 {
        let numbers: Vec<String> = segments.iter().map(|&i| ws.number(i).to_string()).collect();
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "the stream has {} PostwireConfig documents ({}); postwire reads one",
                numbers.len(),
                numbers.join(", ")
            ),
        )
        .with_hint("merge them into one, or pass the settings with --config / --set"));
    }
    Ok((segments, sources))
}

fn strip_helm_annotation(value: &mut Spanned) {
    use config::Value;
    let Value::Map(top) = &mut value.value else {
        return;
    };
    let Some((_, meta)) = top.iter_mut().find(|(k, _)| k == "metadata") else {
        return;
    };
    let Value::Map(meta) = &mut meta.value else {
        return;
    };
    if let Some((_, ann)) = meta.iter_mut().find(|(k, _)| k == "annotations") {
        if let Value::Map(entries) = &mut ann.value {
            entries.retain(|(k, _)| k != FILENAME_ANNOTATION);
        }
    }
}

/// The result of a render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOutput {
    /// The post-rendered stream.
    pub manifests: String,
    /// What changed and why.
    pub report: Report,
}

/// Render a request: the one entry point every host uses.
pub fn render(request: &RenderRequestV1) -> Result<RenderOutput> {
    request.validate()?;
    let mut ws = Workspace::new(&request.manifests);
    let mut report = Report::default();

    let (config_segments, chart_sources) = take_config_documents(&mut ws)?;
    let mut sources = Vec::new();
    match request.chart_config {
        ChartConfig::Merge => sources.extend(chart_sources),
        ChartConfig::Ignore => {
            for &i in &config_segments {
                report.document(ws.number(i), config::KIND, ws.source(i).as_deref()).notes.push(Note {
                    wiring: "config".into(),
                    level: Level::Warning,
                    message: "ignored: the chart's PostwireConfig is not read (--chart-config=ignore)".into(),
                });
            }
        }
    }
    if let Some(file) = &request.config {
        sources.push(config::file_source(&file.name, &file.content)?);
    }
    for set in &request.set {
        sources.push(Source { name: format!("--set {set}"), value: config::parse_set(set)? });
    }
    let config: PostwireConfig = config::resolve(sources)?;
    ws.set_on_uneditable(match config.on_uneditable {
        OnUneditable::Error => Uneditable::Error,
        OnUneditable::Skip => Uneditable::Skip,
    });

    let pipeline = wiring::pipeline(&config, &request.context);
    let mut kinds = BTreeSet::new();
    for w in &pipeline {
        kinds.extend(w.kinds());
    }
    ws.parse_needed(&kinds)?;

    for w in &pipeline {
        w.apply(&mut ws, &mut report)?;
        ws.commit(&mut report)?;
    }

    let documents = ws.document_count();
    for &i in &config_segments {
        report.document(ws.number(i), config::KIND, ws.source(i).as_deref()).changes.push(Change {
            wiring: "config".into(),
            path: String::new(),
            key: String::new(),
            action: Action::Removed,
            reason: "PostwireConfig is read by postwire and not applied to the cluster".into(),
        });
    }
    let (manifests, changed, removed) = ws.finish();
    report.finish();
    report.summary.documents = documents;
    report.summary.changed = changed;
    report.summary.removed = removed;
    Ok(RenderOutput { manifests, report })
}

/// Render and wrap the result for the wire.
pub fn render_response(request: &RenderRequestV1) -> Result<RenderResponseV1> {
    let out = render(request)?;
    Ok(RenderResponseV1::new(out.manifests, out.report))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKLOAD: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      volumes:\n      - name: c\n        configMap:\n          name: c\n";

    fn render_str(text: &str) -> RenderOutput {
        render(&RenderRequestV1::new(text)).unwrap()
    }

    #[test]
    fn keeps_bom_markers_empty_and_comment_only_documents() {
        let input = format!("\u{feff}---\n# only a comment\n---\n---\n{WORKLOAD}...\n# trailing\n");
        let out = render_str(&input);
        assert!(out.manifests.starts_with("\u{feff}---\n# only a comment\n---\n---\napiVersion: v1"));
        assert!(out.manifests.ends_with("          name: c\n...\n# trailing\n"));
        assert!(out.manifests.contains("      annotations:\n        checksum/configmap-c: \""));
        // Document numbers count only documents with content.
        assert_eq!(out.report.summary.documents, 2);
        assert_eq!(out.report.documents[0].document, 2);
    }

    #[test]
    fn handles_very_long_lines_and_non_ascii() {
        let long = "ü".repeat(1 << 20);
        let input = WORKLOAD.replace("  k: v\n", &format!("  k: \"{long}\"\n  Ω: ✓\n"));
        let out = render_str(&input);
        let before = input.len();
        assert_eq!(
            out.manifests.len(),
            before + "    metadata:\n      annotations:\n        checksum/configmap-c: \"\"\n".len() + 64
        );
        assert!(out.manifests.contains(&long));
    }

    #[test]
    fn empty_and_comment_only_streams_pass_through() {
        for input in ["", "\n", "# nothing here\n", "---\n", "---\n...\n"] {
            let out = render_str(input);
            assert_eq!(out.manifests, input);
            assert_eq!(out.report.summary.documents, 0);
        }
    }

    #[test]
    fn unparsed_documents_keep_their_bytes_even_when_odd() {
        // A CRD is never parsed: odd but valid formatting is kept exactly.
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:   {name: x}   # c\nspec:\n    versions: [ ]\n";
        let input = format!("{crd}---\n{WORKLOAD}");
        let out = render_str(&input);
        assert!(out.manifests.starts_with(crd));
    }
}
