//! User templates: minijinja templates that write Kubernetes objects, rendered once or once per
//! object a `forEach` selector picks (bound as `object`).
//!
//! ```yaml
//! templates:
//!   - name: pdb
//!     forEach: {kind: Deployment}
//!     template: |
//!       apiVersion: policy/v1
//!       kind: PodDisruptionBudget
//!       metadata: {name: "{{ object.metadata.name }}"}
//!       spec:
//!         minAvailable: 1
//!         selector: {matchLabels: {{ object.spec.selector.matchLabels | tojson }}}
//! ```
//!
//! A template writes YAML documents (`---` between them; none is fine). Each must be a
//! Kubernetes object (a mapping with apiVersion, kind and a DNS-1123 metadata.name); it joins
//! the stream through [`crate::generate`], marked `postwire.dev/generated-by: templates/<name>`, so a
//! second run over postwire's own output regenerates it byte for byte. Plain scalars in the
//! output mean what they mean to Kubernetes (yaml.v2: `yes` is true, `1.5` a float); strings
//! are written double-quoted.
//!
//! Templates see `values`, `release`, `namespace`, `argocd`, `resources` (every object of the
//! render, except those postwire generated) and the functions `find` and `select`; see
//! [`crate::jinja`] for the filters and limits.

use std::collections::BTreeSet;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::error::{Error, ErrorKind, Result};
use crate::generate::OnConflict;
use crate::jinja::{self, documents, generate_all, is_generated, Engine};
use crate::model;
use crate::report::Report;
use crate::resource::Object;
use crate::select::Selector;
use crate::wire::ContextV1;
use crate::workspace::Workspace;

use super::Wiring;

const NAME: &str = "template";

/// A template's name: letters, digits, `-`, `_` and `.` (it names the generated objects'
/// marker and Helm 4 file, `postwire/templates/<name>.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct TemplateName(String);

impl TryFrom<String> for TemplateName {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(TemplateName(s))
        } else {
            Err(format!("`{s}` is not a template name: use letters, digits, `-`, `_` and `.` (at most 63)"))
        }
    }
}

impl From<TemplateName> for String {
    fn from(n: TemplateName) -> String {
        n.0
    }
}

impl TemplateName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What to do when the chart already has an object a template writes (same group, kind,
/// namespace and name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Conflict {
    /// Stop with an error naming both (default).
    #[default]
    Error,
    /// Keep the chart's object.
    Skip,
    /// Replace the chart's object with the template's.
    Replace,
}

impl From<Conflict> for OnConflict {
    fn from(c: Conflict) -> OnConflict {
        match c {
            Conflict::Error => OnConflict::Error,
            Conflict::Skip => OnConflict::Skip,
            Conflict::Replace => OnConflict::Replace,
        }
    }
}

/// One user template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateConfig {
    /// Its name, in messages and in the generated objects' `postwire.dev/generated-by:
    /// templates/<name>` marker.
    pub name: TemplateName,
    /// Render once per object this selector picks, bound as `object`; without it, once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<Selector>,
    /// The minijinja template: YAML documents, each a Kubernetes object.
    pub template: String,
    /// When the chart already has an object the template writes: `error` (default), `skip`
    /// (keep the chart's) or `replace`.
    #[serde(default)]
    pub on_conflict: Conflict,
    /// Fuel for one render (default 1,000,000 minijinja instructions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Largest output of one render in bytes (default 1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<usize>,
}

/// The user templates.
pub struct Templates {
    templates: Vec<TemplateConfig>,
    values: Json,
    context: ContextV1,
    platform: crate::platform::PlatformConfig,
}

impl Templates {
    /// Build the wiring.
    pub fn new(templates: &[TemplateConfig], inputs: &super::TemplateInputs, context: &ContextV1) -> Self {
        Templates {
            templates: templates.to_vec(),
            values: inputs.values.clone(),
            context: inputs.platform.template_context(context, inputs.platform.chart_templates),
            platform: inputs.platform.clone(),
        }
    }
}

impl Wiring for Templates {
    fn name(&self) -> &'static str {
        NAME
    }

    fn kinds(&self) -> Vec<String> {
        self.templates.iter().filter_map(|t| t.for_each.as_ref().and_then(|s| s.kind.clone())).collect()
    }

    fn apply(&self, ws: &mut Workspace<'_>, report: &mut Report) -> Result<()> {
        self.check_names()?;
        // What the chart rendered, not what postwire made of it: a second run sees the same.
        let objects: Vec<Object> = jinja::parse_all(ws)?.into_iter().filter(|o| !is_generated(ws, o)).collect();
        let engine = Engine::new(Arc::new(jinja::resources(ws, &objects)));
        for (i, t) in self.templates.iter().enumerate() {
            let bindings: Vec<Option<Binding>> = match &t.for_each {
                None => vec![None],
                Some(sel) => sel
                    .pick(ws, &objects, self.context.namespace.as_deref(), &format!("templates[{i}].forEach"))?
                    .into_iter()
                    .map(|o| Some((model::json(ws.tree(o.segment), o.node), o.display(), o.segment)))
                    .collect(),
            };
            for binding in bindings {
                self.render_one(ws, report, &engine, i, binding)?;
            }
        }
        Ok(())
    }
}

/// An object a `forEach` template renders for: its JSON, display name and segment.
type Binding = (Json, String, usize);

impl Templates {
    /// Two templates of one name would write the same generated-by marker.
    fn check_names(&self) -> Result<()> {
        let mut seen = BTreeSet::new();
        for (i, t) in self.templates.iter().enumerate() {
            if !seen.insert(t.name.as_str()) {
                return Err(Error::new(ErrorKind::Config, format!("two templates are named `{}`", t.name.as_str()))
                    .with_path(format!("templates[{i}].name")));
            }
        }
        Ok(())
    }

    /// Render template `i` once (for `binding`'s object, bound as `object`, when it has a
    /// `forEach`) and generate what it writes.
    fn render_one(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        engine: &Engine,
        i: usize,
        binding: Option<Binding>,
    ) -> Result<()> {
        let entry = &self.templates[i];
        let name = entry.name.as_str();
        let what = format!("templates[{i}] ({name})");
        let limits = self.platform.limits(&format!("templates[{i}]"), &what, entry.fuel, entry.max_output_bytes);
        let mut context = jinja::context(&self.values, &self.context);
        let (what, reason) = match &binding {
            Some((object, display, _)) => {
                context.insert("object".into(), object.clone());
                (format!("{what} for {display}"), format!("written by template `{name}` for {display}"))
            }
            None => (what, format!("written by template `{name}`")),
        };
        crate::progress::step(|| format!("rendering {what}"));
        let text =
            engine.render(name, &entry.template, &Json::Object(context), limits).map_err(|e| match &binding {
                Some((_, display, segment)) => e.in_document(ws.location(*segment, Some(display.clone()))),
                None => e,
            })?;
        let docs = documents(&text, &what)?;
        generate_all(ws, report, &format!("templates/{name}"), &what, docs, entry.on_conflict.into(), &reason)
    }
}

#[cfg(test)]
mod tests;
