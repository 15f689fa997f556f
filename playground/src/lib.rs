//! The postwire engine in the browser: the playground page calls these functions through
//! wasm-bindgen. Each takes and returns JSON text, so the page and the Node parity test see
//! exactly what the runner's `plugin.wasm` sees: the same `RenderRequestV1` goes into the same
//! `postwire_core::render_response` the extism plugin's `render` export calls.

use postwire_core::stream::Stream;
use postwire_core::wire::RenderRequestV1;
use serde::Serialize;
use serde_json::{json, Value};
use wasm_bindgen::prelude::wasm_bindgen;

/// Render a `RenderRequestV1` (JSON). Returns
/// `{"ok": true, "manifests": ..., "report": ..., "reportJson": ..., "warnings": [...]}` or
/// `{"ok": false, "error": {...}}` with the error's kind, message, line and where it points.
#[wasm_bindgen]
pub fn render(request_json: &str) -> String {
    render_value(request_json).to_string()
}

fn render_value(request_json: &str) -> Value {
    let request = match RenderRequestV1::from_json(request_json.as_bytes()) {
        Ok(request) => request,
        Err(e) => return json!({"ok": false, "error": error_value(&e, "")}),
    };
    match postwire_core::render_response(&request) {
        Ok(response) => json!({
            "ok": true,
            "manifests": response.manifests,
            "reportJson": response.report.to_versioned_json(),
            "report": response.report,
            "warnings": response.report.warnings(),
        }),
        Err(e) => json!({"ok": false, "error": error_value(&e, &request.manifests)}),
    }
}

/// An engine error for the page: the one line the runner prints, its parts, and, for an error
/// about a document that names no line, the stream line where that document starts.
fn error_value(e: &postwire_core::Error, manifests: &str) -> Value {
    let document = e.document().map(|d| {
        json!({"index": d.index, "object": d.object, "source": d.source, "line": document_line(manifests, d.index)})
    });
    json!({
        "kind": format!("{:?}", e.kind()),
        "exitCode": e.exit_code(),
        "display": e.to_string(),
        "message": e.message(),
        "line": e.line(),
        "column": e.column(),
        "origin": e.origin(),
        "path": e.path(),
        "hint": e.hint(),
        "document": document,
    })
}

/// The 1-based stream line where the `index`-th (1-based) document with content has its first
/// non-blank line (a segment opened by `---` starts on the marker's line).
fn document_line(manifests: &str, index: usize) -> Option<usize> {
    let stream = Stream::split(manifests);
    let segment = stream.segments.iter().filter(|s| s.has_content).nth(index.checked_sub(1)?)?;
    let text = &manifests[segment.start..segment.end];
    let blank = text.len() - text.trim_start().len();
    Some(segment.line + text[..blank].matches('\n').count())
}

/// postwire's config JSON Schema (what `postwire schema config` prints).
#[wasm_bindgen]
pub fn config_schema() -> String {
    postwire_core::pipeline::json_schema()
}

/// The engine's version.
#[wasm_bindgen]
pub fn version() -> String {
    postwire_core::VERSION.to_string()
}

/// A line diff of the input stream and the output, grouped by document for the page's diff
/// view: `[{"status": "same"|"changed"|"added"|"removed", "lines": [[tag, text], ...]}]` where
/// tag is `" "`, `"+"` or `"-"`. A document starts at a `---` line at column 0 (outside
/// scalars, YAML allows a document marker nowhere else).
#[wasm_bindgen]
pub fn diff(old: &str, new: &str) -> String {
    serde_json::to_string(&diff_documents(old, new)).expect("diff serializes")
}

/// One document of the diff view.
#[derive(Debug, Serialize, PartialEq)]
pub struct DiffDocument {
    /// `same`, `changed`, `added` (all lines new) or `removed` (all lines gone).
    pub status: &'static str,
    /// `(tag, line)` with tag `" "`, `"+"` or `"-"`; lines keep no line break.
    pub lines: Vec<(&'static str, String)>,
}

/// See [`diff`].
pub fn diff_documents(old: &str, new: &str) -> Vec<DiffDocument> {
    let text = similar::TextDiff::configure().algorithm(similar::Algorithm::Patience).diff_lines(old, new);
    let mut docs: Vec<Vec<(&'static str, String)>> = vec![Vec::new()];
    for change in text.iter_all_changes() {
        let tag = match change.tag() {
            similar::ChangeTag::Equal => " ",
            similar::ChangeTag::Insert => "+",
            similar::ChangeTag::Delete => "-",
        };
        let line = change.value().trim_end_matches(['\n', '\r']).to_string();
        let marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if marker && docs.last().is_some_and(|d| d.iter().any(|(_, l)| is_content(l))) {
            docs.push(Vec::new());
        }
        docs.last_mut().unwrap().push((tag, line));
    }
    docs.into_iter()
        .filter(|lines| !lines.is_empty())
        .map(|lines| {
            let content = || lines.iter().filter(|(_, l)| is_content(l));
            let status = if content().all(|(t, _)| *t == " ") {
                "same"
            } else if content().all(|(t, _)| *t == "+") {
                "added"
            } else if content().all(|(t, _)| *t == "-") {
                "removed"
            } else {
                "changed"
            };
            DiffDocument { status, lines }
        })
        .collect()
}

/// A line that holds YAML content (not blank, not only a comment, not a marker).
fn is_content(line: &str) -> bool {
    let t = line.trim();
    !(t.is_empty() || t.starts_with('#') || t == "---" || t == "...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_groups_lines_by_document_and_names_what_happened() {
        let old = "a: 1\n---\nkind: PostwireConfig\n---\nb: 2\nc: 3\n";
        let new = "a: 1\n---\nb: 2\nx: 9\nc: 3\n---\nnew: doc\n";
        let docs = diff_documents(old, new);
        let statuses: Vec<_> = docs.iter().map(|d| d.status).collect();
        assert_eq!(statuses, ["same", "removed", "changed", "added"], "{docs:#?}");
        assert!(docs[2].lines.contains(&("+", "x: 9".to_string())));
    }

    #[test]
    fn a_render_and_an_error_come_back_as_json() {
        let request = RenderRequestV1::new(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: x\n        envFrom:\n        - configMapRef:\n            name: c\n",
        );
        let out = render_value(&serde_json::to_string(&request).unwrap());
        assert_eq!(out["ok"], true, "{out}");
        assert!(out["manifests"].as_str().unwrap().contains("checksum/configmap-c"), "{out}");
        assert!(out["reportJson"].as_str().unwrap().starts_with("{\n  \"apiVersion\": \"postwire.dev/v1alpha1\""));

        let mut bad = RenderRequestV1::new("a: 1\n---\nb: [\n");
        bad.config = Some(postwire_core::wire::ConfigFileV1 { name: "postwire.yaml".into(), content: String::new() });
        let out = render_value(&serde_json::to_string(&bad).unwrap());
        assert_eq!(out["ok"], false);
        assert_eq!(out["error"]["kind"], "Yaml", "{out}");
        assert!(out["error"]["line"].as_u64().unwrap() >= 3, "{out}");

        let mut config = RenderRequestV1::new("a: 1\n");
        config.config = Some(postwire_core::wire::ConfigFileV1 {
            name: "postwire.yaml".into(),
            content: "checksum:\n  enabled: true\n  mdoe: x\n".into(),
        });
        let out = render_value(&serde_json::to_string(&config).unwrap());
        assert_eq!(out["error"]["kind"], "Config", "{out}");
        assert_eq!(out["error"]["origin"], "postwire.yaml", "{out}");
        assert_eq!(out["error"]["line"], 3, "{out}");
    }

    #[test]
    fn a_wiring_error_without_a_line_points_at_its_document() {
        assert_eq!(document_line("# c\n---\na: 1\n---\n---\nb: 2\n", 2), Some(6));
        assert_eq!(document_line("a: 1\n", 0), None);
    }
}
