//! Shared workload traversal: kind table → pod template → pod spec → containers, the
//! per-object switch annotations, and the paths reports and errors name.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::Invalid;
use crate::error::{Error, ErrorKind, Result};
use crate::names::is_domain_name;
use crate::report::{Level, Note, Report};
pub use crate::resource::{containers, Container, CONTAINER_LISTS};
use crate::resource::{Object, Place, WorkloadKind};
use crate::select::Selector;
use crate::workspace::Workspace;
use crate::yaml::{display_path, NodeId, PathSeg};

/// A workload object and where its pod lives.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The object.
    pub object: Object,
    /// Path from the object to its pod template (empty for a Pod).
    pub template_path: Vec<PathSeg>,
    /// The pod template node, when the object has one.
    pub template: Option<NodeId>,
    /// The pod spec (`<template>.spec`), when it is a mapping.
    pub pod_spec: Option<NodeId>,
}

impl Workload {
    /// A path under the pod template (`metadata`, `annotations` → `spec.template.metadata.annotations`).
    pub fn template_child(&self, keys: &[&str]) -> Vec<PathSeg> {
        let mut path = self.template_path.clone();
        path.extend(keys.iter().map(|&k| PathSeg::from(k)));
        path
    }

    /// A path under the pod spec.
    pub fn pod_spec_child(&self, rest: &[PathSeg]) -> Vec<PathSeg> {
        let mut path = self.template_path.clone();
        path.push(PathSeg::from("spec"));
        path.extend(rest.iter().cloned());
        path
    }
}

/// The workloads of the stream: objects whose group and kind are in `kinds`, in stream order.
pub fn find(ws: &Workspace<'_>, objects: &[Object], kinds: &[WorkloadKind]) -> Vec<(Workload, WorkloadKind)> {
    let mut out = Vec::new();
    for obj in objects {
        let Some(kind) = kinds.iter().find(|w| w.kind == obj.kind && w.group == obj.group()) else {
            continue;
        };
        let tree = ws.tree(obj.segment);
        let template_path: Vec<PathSeg> = kind.template_path.iter().map(|s| PathSeg::from(s.as_str())).collect();
        let template = tree.resolve(obj.node, &template_path).filter(|&t| tree.is_mapping(t));
        let pod_spec = template.and_then(|t| tree.get(t, "spec")).filter(|&s| tree.is_mapping(s));
        out.push((Workload { object: obj.clone(), template_path, template, pod_spec }, kind.clone()));
    }
    out
}

/// The value of a per-object switch annotation (`postwire.dev/checksum: "false"`): None when
/// absent; an error naming the document and line for anything but `"true"` or `"false"`.
pub fn switch(ws: &Workspace<'_>, obj: &Object, annotation: &str) -> Result<Option<bool>> {
    let tree = ws.tree(obj.segment);
    let Some(id) = tree.path(obj.node, &["metadata", "annotations", annotation]) else {
        return Ok(None);
    };
    match tree.scalar(id) {
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        other => {
            let n = tree.node(id);
            Err(Error::new(ErrorKind::Config, format!("`{}` is not a valid value", other.unwrap_or("(not a string)")))
                .with_path(format!("metadata.annotations.{annotation}"))
                .with_hint("use \"true\" or \"false\"")
                .at(n.line, n.col + 1)
                .in_document(ws.location(obj.segment, Some(obj.display()))))
        }
    }
}

/// The path a report names for `path` under an object (`items[3].spec.template…` in a List).
pub fn report_path(obj: &Object, path: &[PathSeg]) -> String {
    let inner = display_path(path);
    match obj.place {
        Place::Root => inner,
        Place::ListItem(i) if inner.is_empty() => format!("items[{i}]"),
        Place::ListItem(i) => format!("items[{i}].{inner}"),
    }
}

/// The workloads a wiring applies to: every one its `selectors` match (every workload when it
/// has none), less those whose `annotation` says `"false"` (an info note says so), plus those
/// it says `"true"`. A selector that matches nothing is an error naming `config_key[i]`,
/// unless it is optional.
#[allow(clippy::too_many_arguments)]
pub fn select(
    ws: &Workspace<'_>,
    objects: &[Object],
    kinds: &[WorkloadKind],
    selectors: &[Selector],
    config_key: &str,
    namespace: Option<&str>,
    annotation: &str,
    wiring: &str,
    report: &mut Report,
) -> Result<Vec<Workload>> {
    let mut matched = vec![false; selectors.len()];
    let mut selected = Vec::new();
    for (w, _) in find(ws, objects, kinds) {
        let obj = &w.object;
        let tree = ws.tree(obj.segment);
        let hits: Vec<usize> = (0..selectors.len()).filter(|&i| selectors[i].matches(tree, obj, namespace)).collect();
        for &i in &hits {
            matched[i] = true;
        }
        match switch(ws, obj, annotation)? {
            Some(false) => {
                let source = ws.source(obj.segment);
                report.document(obj.doc_number, &obj.display(), source.as_deref()).notes.push(Note {
                    wiring: wiring.into(),
                    level: Level::Info,
                    message: format!("skipped: annotation {annotation}: \"false\""),
                    rule: None,
                    line: None,
                });
            }
            Some(true) => selected.push(w),
            None if selectors.is_empty() || !hits.is_empty() => selected.push(w),
            None => {}
        }
    }
    if let Some(i) = (0..matched.len()).find(|&i| !matched[i] && !selectors[i].optional && ws.targets_must_match()) {
        return Err(Error::new(
            ErrorKind::Config,
            format!("{config_key}[{i}] ({}) matches no workload of the render", selectors[i]),
        )
        .with_path(format!("{config_key}[{i}]"))
        .with_hint("fix the selector, or mark it `optional: true`"));
    }
    Ok(selected)
}

/// A workload kind postwire should treat like a Deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadKindConfig {
    /// API group, e.g. `apps.kruise.io` (empty for the core group).
    #[serde(default)]
    pub group: String,
    /// Kind, e.g. `CloneSet`.
    pub kind: String,
    /// Dotted path from the object to its pod template, e.g. `spec.template`.
    pub pod_template_path: String,
}

/// JSON Schema (ECMA 262) patterns of what [`validate_kinds`] checks after parsing.
pub mod patterns {
    /// `workloads[].kind`: a Kubernetes kind such as `CloneSet`.
    pub const KIND: &str = r"^[A-Za-z][A-Za-z0-9]*$";
    /// `workloads[].group`: empty (the core group) or a DNS subdomain.
    pub const GROUP: &str = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*)?$";
    /// `workloads[].podTemplatePath`: dotted keys, e.g. `spec.template` (empty: the object itself).
    pub const POD_TEMPLATE_PATH: &str = r"^([^.]+(\.[^.]+)*)?$";
}

/// The built-in workload kinds plus the configured ones.
pub fn kinds(configured: &[WorkloadKindConfig]) -> Vec<WorkloadKind> {
    let mut kinds = crate::resource::builtin_workloads();
    for w in configured {
        kinds.push(WorkloadKind {
            group: w.group.clone(),
            kind: w.kind.clone(),
            template_path: w.pod_template_path.split('.').filter(|s| !s.is_empty()).map(String::from).collect(),
        });
    }
    kinds
}

/// Checks after parsing of the `workloads:` section.
pub fn validate_kinds(configured: &[WorkloadKindConfig]) -> std::result::Result<(), Invalid> {
    let at = |i: usize, field: &str| vec![PathSeg::from("workloads"), PathSeg::Index(i), PathSeg::from(field)];
    for (i, w) in configured.iter().enumerate() {
        let kind_ok = w.kind.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && w.kind.bytes().all(|b| b.is_ascii_alphanumeric());
        if !kind_ok {
            return Err(Invalid::new(format!("`{}` is not a Kubernetes kind", w.kind), at(i, "kind"))
                .hint("a kind is letters and digits, e.g. `CloneSet`"));
        }
        if !(w.group.is_empty() || is_domain_name(&w.group)) {
            return Err(Invalid::new(format!("`{}` is not an API group", w.group), at(i, "group"))
                .hint("use a DNS subdomain such as `apps.kruise.io`, or leave it empty for the core group"));
        }
        if !w.pod_template_path.is_empty() && w.pod_template_path.split('.').any(str::is_empty) {
            return Err(Invalid::new(
                format!("`{}` is not a dotted path", w.pod_template_path),
                at(i, "podTemplatePath"),
            )
            .hint("use keys joined by dots, such as `spec.template`"));
        }
    }
    Ok(())
}
