//! The render pipeline: split, peek, parse what is needed, resolve config, run the wirings in
//! order (committing each one's edits), emit.

use std::collections::BTreeSet;

use crate::config::{self, Source, Spanned};
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::{self, PostwireConfig};
use crate::redact::SecretValues;
use crate::report::{Action, Change, Level, Note, Report};
use crate::resource;
use crate::stream::FILENAME_ANNOTATION;
use crate::wire::{ChartConfig, RenderRequestV1};
use crate::wiring::Wiring;
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
        // Errors name the chart template and count lines in it, as the chart author sees it.
        let template = ws.source(i);
        let mut source =
            config::document_source(tree, root, ws.number(i), template.as_deref(), ws.template_first_line(i))?;
        // Helm 4 stamps every document with its filename; that is not config.
        strip_helm_annotation(&mut source.value);
        config::check_type_meta(&source.value, &source.name)?;
        sources.push(source);
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

/// Render a manifest stream (the hosts' entry point is [`crate::render`], which also takes a
/// KRM `ResourceList`).
pub fn render_stream(request: &RenderRequestV1) -> Result<RenderOutput> {
    render_with(request, Vec::new())
}

/// Render with extra platform config sources (a KRM function's `functionConfig`), merged over
/// the chart's config and under the config file and `--set`. Platform sources, the file and
/// `--set` values expand `${NAME}` from the request's context (see [`crate::vars`]).
///
/// No message or report text carries a value of the stream's Secrets (see [`crate::redact`]).
pub fn render_with(request: &RenderRequestV1, platform: Vec<Source>) -> Result<RenderOutput> {
    match render_unredacted(request, platform) {
        Ok((mut out, secrets)) => {
            secrets.scrub_report(&mut out.report);
            Ok(out)
        }
        Err(e) => Err(crate::redact::SecretValues::collect(&request.manifests).scrub_error(e)),
    }
}

/// Render with edited documents' trees built from the regions each edit changed; should one
/// differ from a whole parse of its text (or the render fail), render again parsing whole,
/// the reference (see [`crate::edit::regions`]).
fn render_unredacted(request: &RenderRequestV1, platform: Vec<Source>) -> Result<(RenderOutput, SecretValues)> {
    request.validate()?;
    let built = crate::edit::regions::counts().regions;
    match render_once(request, platform.clone(), Reparse::Regions) {
        Ok(Some(out)) => Ok(out),
        // Only a wiring's error can come from where an edit lands (a refusal, an internal
        // error); any other, or one before any tree was built from regions, is the reference's.
        Err(e) if e.kind() != ErrorKind::Wiring || crate::edit::regions::counts().regions == built => Err(e),
        _ => Ok(render_once(request, platform, Reparse::Whole)?.expect("a render parsing whole is its own reference")),
    }
}

/// How edited documents get their trees back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reparse {
    /// Parse the changed regions, move the rest.
    Regions,
    /// Parse every edited document whole.
    Whole,
}

/// One render and the values of the input's Secrets; None when a tree built from regions
/// differs from a whole parse.
fn render_once(
    request: &RenderRequestV1,
    platform: Vec<Source>,
    reparse: Reparse,
) -> Result<Option<(RenderOutput, SecretValues)>> {
    crate::progress::wiring(None);
    crate::progress::step(|| "splitting the stream into documents".to_string());
    let mut ws = Workspace::new(&request.manifests);
    if reparse == Reparse::Whole {
        ws.set_reparse_whole();
    }
    if request.validate_only {
        ws.set_config_check();
    }
    let mut report = Report::default();
    let (config_segments, chart_sources) = chart_config(&mut ws, request, &mut report)?;
    let config = resolve_config(request, chart_sources, platform)?;
    ws.set_on_uneditable(config.on_uneditable);
    // `postwire check` changes nothing: it only reads the stream.
    let wirings = if request.check_only { Vec::new() } else { pipeline::wirings(&config, &request.context) };
    run_wirings(&mut ws, &wirings, &mut report)?;
    if !ws.check_reparsed() {
        return Ok(None);
    }
    for &i in &config_segments {
        report.document(ws.number(i), config::KIND, ws.source(i).as_deref()).changes.push(Change {
            wiring: "config".into(),
            path: String::new(),
            key: String::new(),
            action: Action::Removed,
            reason: "PostwireConfig is read by postwire and not applied to the cluster".into(),
        });
    }
    let secrets = ws.secret_values();
    finish(ws, request, &config, report).map(|out| Some((out, secrets)))
}

/// Take the chart's `PostwireConfig` documents out of the stream, and their config sources
/// unless the request ignores them (`--chart-config=ignore`, which says so in the report).
fn chart_config(
    ws: &mut Workspace<'_>,
    request: &RenderRequestV1,
    report: &mut Report,
) -> Result<(Vec<usize>, Vec<Source>)> {
    let (config_segments, mut chart_sources) = take_config_documents(ws)?;
    match request.chart_config {
        ChartConfig::Merge => chart_sources.iter().try_for_each(crate::platform::refuse_in_chart)?,
        ChartConfig::Ignore => {
            chart_sources.clear();
            crate::platform::remove_chart_annotations(ws, report)?;
            for &i in &config_segments {
                report.document(ws.number(i), config::KIND, ws.source(i).as_deref()).notes.push(Note {
                    wiring: "config".into(),
                    level: Level::Warning,
                    message: "ignored: the chart's PostwireConfig is not read (--chart-config=ignore)".into(),
                    rule: None,
                    line: None,
                });
            }
        }
    }
    Ok((config_segments, chart_sources))
}

/// The config: the chart's sources under the platform's (a KRM `functionConfig`, the config
/// file, `--set`), each platform source with `${NAME}` expanded; templates and patches only
/// the chart wrote are marked as the chart's.
fn resolve_config(
    request: &RenderRequestV1,
    chart_sources: Vec<Source>,
    platform: Vec<Source>,
) -> Result<PostwireConfig> {
    // A ResourceList found in the stream (not `postwire krm`) may be a chart's output: its
    // functionConfig cannot set what only the platform may, and its templates are the chart's.
    let detected = request.input == crate::wire::InputFormat::Auto;
    if detected {
        platform.iter().try_for_each(crate::platform::refuse_in_chart)?;
    }
    let function_configs = platform.len();
    let mut platform = platform;
    if let Some(file) = &request.config {
        platform.push(config::file_source(&file.name, &file.content)?);
    }
    for set in &request.set {
        platform.push(Source { name: format!("--set {set}"), value: config::parse_set(set)? });
    }
    for source in &mut platform {
        crate::vars::expand(&mut source.value, &request.context.env)?;
    }
    let untrusted = if detected { function_configs } else { 0 };
    let chart: Vec<&Source> = chart_sources.iter().chain(&platform[..untrusted]).collect();
    let trusted: Vec<&Source> = platform[untrusted..].iter().collect();
    let chart_templates = crate::platform::owned_by_chart("templates", &chart, &trusted);
    let chart_patches = crate::platform::owned_by_chart("patches", &chart, &trusted);
    crate::progress::step(|| "reading the config".to_string());
    let mut config = pipeline::resolve(chart_sources.into_iter().chain(platform).collect())?;
    config.platform.chart_templates = chart_templates;
    config.platform.chart_patches = chart_patches;
    Ok(config)
}

/// Parse what the wirings read, then run each, committing its edits before the next.
fn run_wirings(ws: &mut Workspace<'_>, wirings: &[Box<dyn Wiring>], report: &mut Report) -> Result<()> {
    let mut kinds = BTreeSet::new();
    for w in wirings {
        kinds.extend(w.kinds());
    }
    ws.parse_needed(&kinds)?;
    for w in wirings {
        crate::progress::wiring(Some(w.name()));
        w.apply(ws, report)?;
        ws.commit(report)?;
    }
    crate::progress::wiring(None);
    Ok(())
}

/// Write the output stream, check it, and complete the report; the check's findings fail
/// the render as `check.failOn` says (never in `postwire check`, which only reports them).
fn finish(
    ws: Workspace<'_>,
    request: &RenderRequestV1,
    config: &PostwireConfig,
    mut report: Report,
) -> Result<RenderOutput> {
    let documents = ws.document_count();
    crate::progress::step(|| "writing the output stream".to_string());
    let (manifests, changed, removed, parsed) = ws.finish_parsed();
    crate::progress::step(|| "checking the output (postwire check's rules)".to_string());
    let findings = crate::check::check_parsed(&manifests, request.context.namespace.as_deref(), parsed)?;
    crate::check::add_to_report(&findings, &mut report);
    report.finish();
    report.summary.documents = documents;
    report.summary.changed = changed;
    report.summary.removed = removed;
    if !request.check_only {
        crate::check::enforce(&findings, config.check.fail_on)?;
    }
    Ok(RenderOutput { manifests, report })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

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

    /// `postwire validate`: a config naming objects only a real render has is valid, and is
    /// still an error for a render that lacks them; a config error is one either way.
    #[test]
    fn validate_only_does_not_require_the_named_objects() {
        let config = "istio: {enabled: true, services: [{name: web}]}\n\
            rollouts: {enabled: true, workloads: [{name: web, strategy: {canary: {steps: [{setWeight: 20}]}}}]}\n\
            irsa: {enabled: true, accountId: \"123456789012\", roles: {web: web}}\n\
            datadog: {enabled: true, workloads: [{name: web}]}\n\
            patches: [{target: {kind: Service, name: web}, patch: [{op: remove, path: /spec/type}]}]\n\
            recipes: {networkPolicy: {services: {web: [api]}}}\n";
        let mut request = crate::wiring::test_support::request("", config);
        let err = render(&request).unwrap_err().to_string();
        assert!(err.contains("istio.services[0]") && err.contains("not in the render"), "{err}");
        request.validate_only = true;
        let out = render(&request).unwrap();
        assert_eq!(out.manifests, "");
        request.set.push("istio.gateways.public.httpPort=0".into());
        let err = render(&request).unwrap_err().to_string();
        assert!(err.contains("istio.gateways.public"), "{err}");
    }

    fn render_with(text: &str, set: &[&str]) -> Result<RenderOutput> {
        let mut request = RenderRequestV1::new(text);
        request.set = set.iter().map(|s| s.to_string()).collect();
        render(&request)
    }

    #[test]
    fn null_documents_pass_through() {
        // Helm renders `{{ toYaml .Values.x }}` with x nil as `null`; kubectl and Helm skip it.
        for doc in ["~\n", "null\n", "--- ~\n", "---\nnull\n"] {
            let input = format!("{doc}---\n{WORKLOAD}");
            let out = render_str(&input);
            assert!(out.manifests.starts_with(doc), "{doc:?}");
            assert_eq!(out.report.summary.changed, 1);
            let off = render_with(&input, &["checksum.enabled=false"]).unwrap();
            assert_eq!(off.manifests, input);
        }
    }

    #[test]
    fn every_typed_list_counts_in_any_style() {
        let block = "apiVersion: v1\nkind: ConfigMapList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c\n  data:\n    k: v\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  volumes:\n  - name: c\n    configMap:\n      name: c\n";
        let json = "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMapList\", \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\"}, \"data\": {\"k\": \"v\"}}]}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  volumes:\n  - name: c\n    configMap:\n      name: c\n";
        let a = render_str(block);
        let b = render_str(json);
        let hash =
            |out: &RenderOutput| out.manifests.split("checksum/configmap-c: ").nth(1).map(|r| r[..66].to_string());
        assert!(hash(&a).is_some());
        assert_eq!(hash(&a), hash(&b));
    }

    #[test]
    fn ambiguous_references_are_hashed_together_and_warned_about() {
        let cm = |ns: &str, v: &str| {
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: {ns}\ndata:\n  k: {v}\n---\n")
        };
        let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  volumes:\n  - name: c\n    configMap:\n      name: c\n";
        let input = format!("{}{}{pod}", cm("a", "1"), cm("b", "2"));
        let out = render_str(&input);
        let warnings = out.report.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("ConfigMap c is in namespaces a, b") && warnings[0].contains("--namespace"));
        // Changing either candidate rolls the pod.
        let changed = render_str(&format!("{}{}{pod}", cm("a", "1"), cm("b", "3")));
        assert_ne!(out.manifests, changed.manifests);
        // With the namespace known, only that one counts and nothing is ambiguous.
        let mut request = RenderRequestV1::new(input.clone());
        request.context.namespace = Some("a".into());
        let known = render(&request).unwrap();
        assert!(known.report.warnings().is_empty());
    }

    #[test]
    fn config_map_data_aliases_are_resolved() {
        let input = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: &l {k: one}\ndata: *l\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  volumes:\n  - name: c\n    configMap:\n      name: c\n";
        let plain = input.replace("  labels: &l {k: one}\ndata: *l\n", "data: {k: one}\n");
        let hash = |text: &str| {
            let out = render_str(text);
            out.manifests.split("checksum/configmap-c: ").nth(1).unwrap()[..66].to_string()
        };
        assert_eq!(hash(input), hash(&plain));
    }

    /// Billion laughs in a ConfigMap a checksum reads: refused at once, naming the document.
    #[test]
    fn alias_bombs_fail_naming_the_document() {
        let mut bomb = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  l0: &l0 lol\n");
        for i in 1..=9 {
            let prev = format!("*l{}", i - 1);
            bomb.push_str(&format!("  l{i}: &l{i} [{}]\n", [prev.as_str(); 10].join(", ")));
        }
        let input = format!("{}---\n{bomb}", WORKLOAD.split("---\n").nth(1).unwrap());
        let err = render_with(&input, &[]).unwrap_err().to_string();
        assert!(err.contains("document 2") && err.contains("excessive aliasing"), "{err}");
    }

    #[test]
    fn on_uneditable_skip_leaves_the_document_and_warns() {
        let shared = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  annotations: &a {team: x}\nspec:\n  template:\n    metadata:\n      annotations: *a\n    spec:\n      volumes:\n      - name: c\n        configMap:\n          name: c\n";
        let input = format!("{}---\n{shared}", WORKLOAD.split("---\n").next().unwrap());
        let err = render_with(&input, &[]).unwrap_err();
        assert!(err.is_uneditable(), "{err}");
        assert!(err.to_string().contains("document 2 (Deployment/d)"), "{err}");
        let out = render_with(&input, &["onUneditable=skip"]).unwrap();
        assert_eq!(out.manifests, input);
        let warnings = out.report.warnings();
        assert!(warnings.len() == 1 && warnings[0].contains("onUneditable: skip"), "{warnings:?}");
        assert_eq!(out.report.summary.changed, 0);
    }

    #[test]
    fn chart_config_can_be_ignored() {
        let chart = "apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\nchecksum:\n  enabled: false\n---\n";
        let input = format!("{chart}{WORKLOAD}");
        let merged = render_str(&input);
        assert_eq!(merged.report.summary.changed, 0);
        let mut request = RenderRequestV1::new(input);
        request.chart_config = ChartConfig::Ignore;
        let ignored = render(&request).unwrap();
        assert_eq!(ignored.report.summary.changed, 1);
        assert_eq!(ignored.report.summary.removed, 1);
        assert!(!ignored.manifests.contains("PostwireConfig"));
        assert!(ignored.report.warnings()[0].contains("--chart-config=ignore"));
    }

    #[test]
    fn generated_config_maps_are_hashed_by_the_checksum_wiring() {
        use crate::edit::Value;
        let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    postrenderer.helm.sh/postrender-filename: c/templates/pod.yaml\nspec:\n  volumes:\n  - name: g\n    configMap:\n      name: generated\n";
        let mut ws = Workspace::new(pod);
        let config = PostwireConfig::default();
        let checksum =
            crate::wiring::checksum::Checksum::new(&config.checksum, config.workload_kinds(), &Default::default());
        let cm = Value::map([
            ("apiVersion", Value::str("v1")),
            ("kind", Value::str("ConfigMap")),
            ("metadata", Value::map([("name", Value::str("generated"))])),
            ("data", Value::map([("k", Value::str("on"))])),
        ]);
        use crate::generate::{generate, OnConflict};
        generate(&mut ws, "test", cm.clone(), OnConflict::Error).unwrap();
        let dup = generate(&mut ws, "other", cm.clone(), OnConflict::Error).unwrap_err();
        assert!(dup.to_string().contains("already defines"), "{dup}");
        assert_eq!(generate(&mut ws, "other", cm, OnConflict::Skip).unwrap(), None);
        ws.parse_needed(&["Pod".to_string()].into_iter().collect()).unwrap();
        let mut report = Report::default();
        use crate::wiring::Wiring;
        checksum.apply(&mut ws, &mut report).unwrap();
        ws.commit(&mut report).unwrap();
        let (out, changed, _) = ws.finish();
        assert_eq!(changed, 1);
        assert!(out.contains("checksum/configmap-generated: \""), "{out}");
        assert!(out.ends_with("---\napiVersion: \"v1\"\nkind: \"ConfigMap\"\nmetadata:\n  name: \"generated\"\n  annotations:\n    postwire.dev/generated-by: \"test\"\n    postrenderer.helm.sh/postrender-filename: \"postwire/test.yaml\"\ndata:\n  k: \"on\"\n"), "{out}");
    }

    /// A template copying its source's annotations (Helm 4's filename among them) generates an
    /// object with each annotation once: postwire's marks replace the copied ones.
    #[test]
    fn copied_annotations_do_not_duplicate_postwires_marks() {
        let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n  annotations:\n    cert-manager.io/cluster-issuer: letsencrypt\n    postrenderer.helm.sh/postrender-filename: c/templates/ingress.yaml\nspec:\n  defaultBackend:\n    service: {name: web, port: {number: 80}}\n";
        let config = "templates:\n- name: preview\n  forEach: {kind: Ingress}\n  template: |\n    apiVersion: networking.k8s.io/v1\n    kind: Ingress\n    metadata:\n      name: {{ object.metadata.name ~ '-preview' }}\n      annotations: {{ object.metadata.annotations | tojson }}\n    spec: {{ object.spec | tojson }}\n";
        let out = render(&crate::wiring::test_support::request(ingress, config)).unwrap().manifests;
        let generated = &out[out.find("web-preview").expect("generated")..];
        assert_eq!(generated.matches("postrenderer.helm.sh/postrender-filename").count(), 1, "{out}");
        assert!(generated.contains("postrender-filename: \"postwire/templates/preview.yaml\""), "{out}");
        assert!(generated.contains("cert-manager.io/cluster-issuer"), "{out}");
    }

    #[test]
    fn charts_with_their_own_checksums_can_be_left_alone() {
        let own = WORKLOAD.replace(
            "  template:\n    spec:\n",
            "  template:\n    metadata:\n      annotations:\n        checksum/config: abc\n    spec:\n",
        );
        let added = render_str(&own);
        assert!(
            added.manifests.contains("checksum/configmap-c: \"") && added.manifests.contains("checksum/config: abc")
        );
        let skipped = render_with(&own, &["checksum.onExisting=skip"]).unwrap();
        assert_eq!(skipped.manifests, own);
        let note = &skipped.report.documents[0].notes[0].message;
        assert!(note.contains("checksum/config") && note.contains("onExisting"), "{note}");
        // postwire's own annotations from an earlier run do not count as the chart's.
        let again =
            render_with(&added.manifests.replace("        checksum/config: abc\n", ""), &["checksum.onExisting=skip"])
                .unwrap();
        assert_eq!(again.report.summary.changed, 0);
        assert!(again.report.documents.is_empty());
    }

    #[test]
    fn chart_config_errors_name_the_template_and_its_line() {
        let input = format!("---\n# Source: app/templates/postwire.yaml\napiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\nchecksum:\n  mode: sometimes\n---\n{WORKLOAD}");
        let err = render_str_err(&input);
        assert!(err.starts_with("app/templates/postwire.yaml (document 1, PostwireConfig) line 4"), "{err}");
    }

    fn render_str_err(text: &str) -> String {
        render(&RenderRequestV1::new(text)).unwrap_err().to_string()
    }

    #[test]
    fn generated_documents_are_regenerated_on_a_second_run() {
        use crate::edit::Value;
        use crate::generate::{generate, OnConflict};
        let run = |text: &str| {
            let mut ws = Workspace::new(text);
            ws.parse_needed(&["ConfigMap".to_string()].into_iter().collect()).unwrap();
            let cm = Value::map([
                ("apiVersion", Value::str("v1")),
                ("kind", Value::str("ConfigMap")),
                ("metadata", Value::map([("name", Value::str("made"))])),
            ]);
            generate(&mut ws, "test", cm, OnConflict::Error).unwrap();
            let (out, _, removed) = ws.finish();
            assert_eq!(removed, 0);
            out
        };
        let once = run(WORKLOAD);
        assert!(once.contains("name: \"made\""));
        assert_eq!(run(&once), once);
    }
}
