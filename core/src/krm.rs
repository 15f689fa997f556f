//! postwire as a KRM function: a `config.kubernetes.io/v1` `ResourceList` in, the same list out.
//!
//! kpt and kustomize run transformers as KRM functions: they send every resource as an item of
//! one `ResourceList` (with `functionConfig`, the function's own config) and read the list back.
//! The engine already edits the items of a `*List` document in place, so the list is rendered
//! as one document: items no wiring changes keep their bytes, and so do the annotations kpt and
//! kustomize use to track items (`config.kubernetes.io/*`, `internal.config.kubernetes.io/*`),
//! which no wiring touches.
//!
//! ```yaml
//! apiVersion: config.kubernetes.io/v1
//! kind: ResourceList
//! functionConfig:            # a PostwireConfig, or a ConfigMap whose data are --set overrides
//!   apiVersion: postwire.dev/v1alpha1
//!   kind: PostwireConfig
//!   checksum: {mode: aggregate}
//! items:
//! - apiVersion: apps/v1
//!   kind: Deployment         # gets its checksum annotation, in place
//! ...
//! results:                   # added when the report has something to say
//! - message: "added checksum/config: ..."
//!   severity: info
//!   resourceRef: {apiVersion: apps/v1, kind: Deployment, name: web}
//!   field: {path: spec.template.metadata.annotations.checksum/config}
//!   file: {path: deployment.yaml, index: 0}
//!   tags: {wiring: checksum}
//! ```
//!
//! Config precedence: `functionConfig`, then the host's `--config` file, then `--set`. Documents
//! a wiring generates become new items. Errors fail the function (no list is written), as they
//! fail a render.

use crate::config::{self, Source, Spanned};
use crate::edit::{self, Op, Uneditable, Value};
use crate::engine::{self, RenderOutput};
use crate::error::{Error, ErrorKind, Result};
use crate::report::{Action, Level, Report};
use crate::resource;
use crate::stream::{self, Replacement, Stream};
use crate::wire::RenderRequestV1;
use crate::yaml::{NodeId, NodeKind, PathSeg, Style, Tree};

/// The `apiVersion` of a KRM `ResourceList`.
pub const API_VERSION: &str = "config.kubernetes.io/v1";
/// The `kind` of a KRM `ResourceList`.
pub const KIND: &str = "ResourceList";

/// The one content segment of a stream, if it has exactly one.
fn only_document(stream: &Stream<'_>) -> Option<usize> {
    let mut content = stream.segments.iter().enumerate().filter(|(_, s)| s.has_content).map(|(i, _)| i);
    let first = content.next()?;
    content.next().is_none().then_some(first)
}

/// Whether `text` is exactly one `config.kubernetes.io/v1` `ResourceList` (YAML or JSON).
pub fn is_resource_list(text: &str) -> bool {
    // memchr's search: core's `str::contains` is several times slower on megabytes in wasm.
    if memchr::memmem::find(text.as_bytes(), KIND.as_bytes()).is_none() {
        return false;
    }
    let stream = Stream::split(text);
    let Some(i) = only_document(&stream) else {
        return false;
    };
    let peek = resource::peek(stream.segment_text(i), stream.segments[i].after_marker);
    if peek.simple {
        return peek.kind.as_deref() == Some(KIND) && peek.api_version.as_deref() == Some(API_VERSION);
    }
    Tree::parse(stream.segment_text(i), 0).ok().is_some_and(|tree| {
        tree.root().is_some_and(|r| {
            tree.is_mapping(r)
                && tree.str_at(r, &["kind"]) == Some(KIND)
                && tree.str_at(r, &["apiVersion"]) == Some(API_VERSION)
        })
    })
}

fn not_a_list(found: String) -> Error {
    Error::new(ErrorKind::Document, format!("expected a {API_VERSION} {KIND}, got {found}")).with_hint(
        "postwire krm reads the ResourceList kpt and kustomize send a KRM function; for manifests use postwire render",
    )
}

/// Render a `ResourceList`: its items through the engine, its `functionConfig` as config, the
/// report as `results`.
pub fn render_resource_list(request: &RenderRequestV1) -> Result<RenderOutput> {
    // The engine scrubs Secret values from its own errors; the envelope's and the list's are
    // scrubbed here, once (a second scrub of scrubbed text could match inside `<redacted>`).
    let scrub = |e| crate::redact::SecretValues::collect(&request.manifests).scrub_error(e);
    let platform = envelope(request).map_err(scrub)?;
    let out = engine::render_with(request, platform)?;
    finish(out).map_err(scrub)
}

/// Check that the request is one `ResourceList` and read its `functionConfig` as config sources.
fn envelope(request: &RenderRequestV1) -> Result<Vec<Source>> {
    let stream = Stream::split(&request.manifests);
    let documents = stream.segments.iter().filter(|s| s.has_content).count();
    let Some(seg) = only_document(&stream) else {
        return Err(not_a_list(format!("{documents} documents")));
    };
    let tree = Tree::parse(stream.segment_text(seg), stream.segments[seg].line - 1)?;
    let root = tree
        .root()
        .filter(|&r| tree.is_mapping(r))
        .ok_or_else(|| not_a_list("a document that is not a mapping".into()))?;
    let (api_version, kind) = (tree.str_at(root, &["apiVersion"]), tree.str_at(root, &["kind"]));
    if api_version != Some(API_VERSION) || kind != Some(KIND) {
        return Err(not_a_list(format!(
            "apiVersion {} kind {}",
            api_version.unwrap_or("(none)"),
            kind.unwrap_or("(none)")
        )));
    }
    if let Some(items) = tree.get(root, "items").filter(|&n| !tree.is_null(n)) {
        if !matches!(tree.node(items).kind, NodeKind::Sequence { .. }) {
            let n = tree.node(items);
            return Err(
                Error::new(ErrorKind::Document, "the ResourceList's items are not a list").at(n.line, n.col + 1)
            );
        }
    }
    Ok(match tree.get(root, "functionConfig").filter(|&n| !tree.is_null(n)) {
        Some(fc) => function_config(&tree, fc)?,
        None => Vec::new(),
    })
}

/// `functionConfig` as config sources: a `PostwireConfig`, or a `ConfigMap` whose `data`
/// entries are `--set` overrides (`kpt fn eval --exec postwire -- checksum.mode=aggregate`).
fn function_config(tree: &Tree, fc: NodeId) -> Result<Vec<Source>> {
    let node = tree.node(fc);
    let at = |err: Error| err.at(node.line, node.col + 1);
    if !tree.is_mapping(fc) {
        return Err(at(Error::new(ErrorKind::Config, "functionConfig is not a mapping")));
    }
    let kind = tree.str_at(fc, &["kind"]).unwrap_or("(none)");
    let api_version = tree.str_at(fc, &["apiVersion"]).unwrap_or("(none)");
    if kind == config::KIND {
        let value = Spanned::from_tree(tree, fc, "functionConfig")?;
        config::check_type_meta(&value, "functionConfig")?;
        return Ok(vec![Source { name: "functionConfig".into(), value }]);
    }
    if kind == "ConfigMap" && api_version == "v1" {
        let Some(data) = tree.get(fc, "data").filter(|&d| !tree.is_null(d)) else {
            return Ok(Vec::new());
        };
        let mut sources = Vec::new();
        for &(k, v) in tree.entries(data) {
            let (Some(key), Some(value)) = (tree.string(k), tree.scalar(v)) else {
                let n = tree.node(k);
                return Err(Error::new(ErrorKind::Config, "functionConfig data entries must be strings")
                    .with_origin("functionConfig")
                    .at(n.line, n.col + 1));
            };
            let set = format!("{key}={value}");
            sources.push(Source { name: format!("--set {set}"), value: config::parse_set(&set)? });
        }
        return Ok(sources);
    }
    Err(at(Error::new(
        ErrorKind::Config,
        format!("functionConfig is {api_version} {kind}; postwire reads a PostwireConfig, or a ConfigMap whose data are --set overrides"),
    )
    .with_origin("functionConfig")
    .with_hint("kpt fn eval --exec postwire -- checksum.mode=aggregate passes a ConfigMap; --fn-config FILE a PostwireConfig")))
}

/// Move generated documents into `items` and write the report as `results`.
fn finish(out: RenderOutput) -> Result<RenderOutput> {
    let RenderOutput { manifests, report } = out;
    let stream = Stream::split(&manifests);
    let content: Vec<usize> = (0..stream.segments.len()).filter(|&i| stream.segments[i].has_content).collect();
    let list_seg = content[0];
    let list_text = stream.segment_text(list_seg);
    let tree = Tree::parse(list_text, 0)?;
    let root = tree.root().expect("the ResourceList was checked");

    let mut ops = Vec::new();
    for &i in &content[1..] {
        let generated = Tree::parse(stream.segment_text(i), 0)?;
        let Some(g) = generated.root() else { continue };
        ops.push(Op::Insert { path: vec![PathSeg::Key("items".into())], index: None, item: to_value(&generated, g) });
    }
    let results = results(&report, &tree, root);
    // In a block mapping without results, the results go last, as kpt writes them.
    let append = matches!(tree.node(root).kind, NodeKind::Mapping { flow: false, .. })
        && tree.get(root, "results").is_none()
        && tree.node(root).col == 0;
    if !results.is_empty() && !append {
        ops.push(Op::Set { path: vec![PathSeg::Key("results".into())], value: Value::Seq(results.clone()) });
    }
    if ops.is_empty() && (results.is_empty() || !append) {
        return Ok(RenderOutput { manifests, report });
    }
    let mut edited = if ops.is_empty() {
        list_text.to_string()
    } else {
        edit::edit_document(list_text, &ops, Uneditable::Error)
            .map_err(|e| Error::new(e.kind(), format!("writing the ResourceList: {e}")))?
            .0
    };
    if append && !results.is_empty() {
        let newline = if list_text.contains("\r\n") { "\r\n" } else { "\n" };
        if !edited.ends_with('\n') {
            edited.push_str(newline);
        }
        for line in crate::emit::block_entries(&[("results".to_string(), Value::Seq(results))], 0, 2) {
            edited.push_str(&line);
            edited.push_str(newline);
        }
    }
    let replacements: Vec<Replacement> = (0..stream.segments.len())
        .map(|i| match i {
            _ if i == list_seg => Replacement::Text(edited.clone()),
            _ if content.contains(&i) => Replacement::Remove,
            _ => Replacement::Keep,
        })
        .collect();
    Ok(RenderOutput { manifests: stream::join(&stream, &replacements, &[]), report })
}

/// A parsed node as a value to write (plain scalars typed as YAML 1.2 core reads them).
fn to_value(tree: &Tree, id: NodeId) -> Value {
    let id = tree.resolved(id);
    if tree.is_null(id) {
        return Value::Null;
    }
    match &tree.node(id).kind {
        NodeKind::Scalar { value, style: Style::Plain } => match value.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            v => v.parse::<i64>().map_or_else(|_| Value::str(v), Value::Int),
        },
        NodeKind::Scalar { value, .. } => Value::str(value.clone()),
        NodeKind::Sequence { items, .. } => Value::Seq(items.iter().map(|&i| to_value(tree, i)).collect()),
        NodeKind::Mapping { entries, .. } => Value::Map(
            entries.iter().map(|&(k, v)| (tree.scalar(k).unwrap_or_default().to_string(), to_value(tree, v))).collect(),
        ),
        NodeKind::Alias => Value::Null,
    }
}

/// The item a report entry names (`Kind/name` or `Kind/namespace/name`).
fn find_item(tree: &Tree, root: NodeId, object: &str) -> Option<NodeId> {
    let parts: Vec<&str> = object.split('/').collect();
    let (kind, namespace, name) = match parts.as_slice() {
        [kind, name] => (*kind, None, *name),
        [kind, ns, name] => (*kind, Some(*ns), *name),
        _ => return None,
    };
    let items = tree.get(root, "items")?;
    tree.items(items).iter().copied().find(|&item| {
        tree.str_at(item, &["kind"]) == Some(kind)
            && tree.str_at(item, &["metadata", "name"]).unwrap_or_default() == name
            && tree.str_at(item, &["metadata", "namespace"]) == namespace
    })
}

/// A field path as kpt writes them: `a.b.key`, with `[key]` for keys that hold dots.
fn field_path(path: &str, key: &str) -> String {
    match (path.is_empty(), key.is_empty()) {
        (_, true) => path.to_string(),
        (true, false) if key.contains('.') => format!("[{key}]"),
        (true, false) => key.to_string(),
        (false, false) if key.contains('.') => format!("{path}[{key}]"),
        (false, false) => format!("{path}.{key}"),
    }
}

/// The report as KRM `results` (kyaml's `framework.Result`): one per change and per note.
fn results(report: &Report, tree: &Tree, root: NodeId) -> Vec<Value> {
    let mut out = Vec::new();
    for doc in &report.documents {
        let item = find_item(tree, root, &doc.object);
        let annotation = |keys: [&str; 2]| {
            item.and_then(|i| keys.iter().find_map(|k| tree.str_at(i, &["metadata", "annotations", k])))
        };
        let resource_ref = item.map(|i| {
            let mut r = vec![
                ("apiVersion".to_string(), Value::str(tree.str_at(i, &["apiVersion"]).unwrap_or_default())),
                ("kind".to_string(), Value::str(tree.str_at(i, &["kind"]).unwrap_or_default())),
                ("name".to_string(), Value::str(tree.str_at(i, &["metadata", "name"]).unwrap_or_default())),
            ];
            if let Some(ns) = tree.str_at(i, &["metadata", "namespace"]) {
                r.push(("namespace".to_string(), Value::str(ns)));
            }
            Value::Map(r)
        });
        let file = annotation(["internal.config.kubernetes.io/path", "config.kubernetes.io/path"]).map(|path| {
            let mut f = vec![("path".to_string(), Value::str(path))];
            let index = annotation(["internal.config.kubernetes.io/index", "config.kubernetes.io/index"]);
            if let Some(index) = index.and_then(|i| i.parse::<i64>().ok()) {
                f.push(("index".to_string(), Value::Int(index)));
            }
            Value::Map(f)
        });
        let mut push = |message: String, severity: &str, field: Option<String>, wiring: &str| {
            let mut r =
                vec![("message".to_string(), Value::str(message)), ("severity".to_string(), Value::str(severity))];
            if let Some(rr) = &resource_ref {
                r.push(("resourceRef".to_string(), rr.clone()));
            }
            if let Some(path) = field.filter(|p| !p.is_empty()) {
                r.push(("field".to_string(), Value::map([("path", Value::str(path))])));
            }
            if let Some(file) = &file {
                r.push(("file".to_string(), file.clone()));
            }
            r.push(("tags".to_string(), Value::map([("wiring", Value::str(wiring))])));
            out.push(Value::Map(r));
        };
        for change in &doc.changes {
            let action = match change.action {
                Action::Added => "added",
                Action::Updated => "updated",
                Action::Removed => "removed",
            };
            let what = if change.key.is_empty() { doc.object.clone() } else { change.key.clone() };
            let message = format!("{action} {what}: {}", change.reason);
            // Report paths of list items start at the list (`items[3].spec...`); results name
            // fields of the resource.
            let path = match (item, change.path.strip_prefix("items[")) {
                (Some(_), Some(rest)) => rest.split_once("].").map_or("", |(_, p)| p),
                _ => change.path.as_str(),
            };
            push(message, "info", Some(field_path(path, &change.key)), &change.wiring);
        }
        for note in &doc.notes {
            let severity = match note.level {
                Level::Error => "error",
                Level::Warning => "warning",
                Level::Info => "info",
            };
            let message =
                if item.is_some() { note.message.clone() } else { format!("{}: {}", doc.object, note.message) };
            push(message, severity, None, &note.wiring);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::InputFormat;
    use crate::{render, render_response};

    const LIST: &str = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c\n    annotations:\n      config.kubernetes.io/index: '0'\n      internal.config.kubernetes.io/path: 'cm.yaml'\n  data:\n    k: v   # a comment\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: d\n    annotations:\n      config.kubernetes.io/index: '0'\n      internal.config.kubernetes.io/index: '0'\n      internal.config.kubernetes.io/path: 'deploy.yaml'\n  spec:\n    template:\n      spec:\n        volumes:\n        - name: c\n          configMap: {name: c}\n";

    fn krm(text: &str) -> Result<RenderOutput> {
        let mut request = RenderRequestV1::new(text);
        request.input = InputFormat::ResourceList;
        render(&request)
    }

    #[test]
    fn detects_resource_lists_only() {
        assert!(is_resource_list(LIST));
        assert!(is_resource_list(&format!("---\n{LIST}")));
        assert!(is_resource_list(r#"{"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": []}"#));
        assert!(!is_resource_list(&format!("{LIST}---\napiVersion: v1\nkind: ConfigMap\n")));
        assert!(!is_resource_list(&LIST.replace("config.kubernetes.io/v1", "v1")));
        assert!(!is_resource_list("apiVersion: v1\nkind: List\nitems: []\n"));
    }

    #[test]
    fn items_are_edited_in_place_and_results_added() {
        let out = krm(LIST).unwrap();
        let (before, _) = LIST.split_once("- apiVersion: apps/v1").unwrap();
        assert!(out.manifests.starts_with(before), "the unchanged item keeps its bytes:\n{}", out.manifests);
        assert!(out.manifests.contains("      metadata:\n        annotations:\n          checksum/configmap-c: \""));
        let results = out.manifests.split_once("\nresults:\n").expect("results").1;
        assert!(results.contains("severity: \"info\""), "{results}");
        assert!(results.contains("apiVersion: \"apps/v1\""), "{results}");
        assert!(results.contains("path: \"spec.template.metadata.annotations.checksum/configmap-c\""), "{results}");
        assert!(results.contains("path: \"deploy.yaml\"") && results.contains("index: 0"), "{results}");
        // A second run changes nothing more than the results it already has.
        let again = krm(&out.manifests).unwrap();
        assert_eq!(again.manifests, out.manifests);
    }

    #[test]
    fn an_untouched_list_comes_back_byte_identical() {
        let input = LIST.split("- apiVersion: apps/v1").next().unwrap().to_string();
        assert_eq!(krm(&input).unwrap().manifests, input);
        let json = r#"{"apiVersion":"config.kubernetes.io/v1","kind":"ResourceList","items":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}}]}"#;
        assert_eq!(krm(json).unwrap().manifests, json);
    }

    #[test]
    fn function_config_is_the_config() {
        let with = |fc: &str| LIST.replace("items:\n", &format!("functionConfig:\n{fc}items:\n"));
        let postwire = with("  apiVersion: postwire.dev/v1alpha1\n  kind: PostwireConfig\n  metadata:\n    name: p\n    annotations:\n      config.kubernetes.io/function: |\n        exec: {path: ./postwire}\n  checksum:\n    mode: aggregate\n");
        let out = krm(&postwire).unwrap();
        assert!(out.manifests.contains("checksum/config: \""), "{}", out.manifests);
        assert!(out.manifests.contains("kind: PostwireConfig"), "functionConfig stays");
        let cm = with(
            "  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: fn}\n  data:\n    checksum.enabled: 'false'\n",
        );
        assert_eq!(krm(&cm).unwrap().manifests, cm);
        let typo =
            with("  apiVersion: postwire.dev/v1alpha1\n  kind: PostwireConfig\n  checksum:\n    mdoe: aggregate\n");
        let err = krm(&typo).unwrap_err().to_string();
        assert!(err.starts_with("functionConfig line 7"), "{err}");
        assert!(err.contains("did you mean `mode`"), "{err}");
        let other = with("  apiVersion: example.com/v1\n  kind: Other\n");
        assert!(krm(&other).unwrap_err().to_string().contains("functionConfig is example.com/v1 Other"));
    }

    #[test]
    fn set_and_file_config_override_function_config() {
        let fc = LIST.replace(
            "items:\n",
            "functionConfig:\n  apiVersion: postwire.dev/v1alpha1\n  kind: PostwireConfig\n  checksum: {mode: aggregate}\nitems:\n",
        );
        let mut request = RenderRequestV1::new(fc);
        request.set = vec!["checksum.mode=perObject".into()];
        let out = render_response(&request).unwrap();
        assert!(out.manifests.contains("checksum/configmap-c: \""), "{}", out.manifests);
    }

    #[test]
    fn not_a_resource_list_is_an_error_when_asked_for_one() {
        let err = krm("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Document);
        assert!(err
            .to_string()
            .contains("expected a config.kubernetes.io/v1 ResourceList, got apiVersion v1 kind ConfigMap"));
        let err = krm(&format!("{LIST}---\n{LIST}")).unwrap_err();
        assert!(err.to_string().contains("got 2 documents"), "{err}");
        // Auto detection leaves other streams to the engine.
        let out =
            render_response(&RenderRequestV1::new("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")).unwrap();
        assert!(!out.manifests.contains("results"));
    }

    #[test]
    fn field_paths_bracket_dotted_keys() {
        assert_eq!(field_path("spec.template.metadata.annotations", "a/b"), "spec.template.metadata.annotations.a/b");
        assert_eq!(
            field_path("metadata.annotations", "prometheus.io/scrape"),
            "metadata.annotations[prometheus.io/scrape]"
        );
        assert_eq!(field_path("", ""), "");
    }
}
