//! What the platform decides and a chart cannot.
//!
//! A chart is third-party input: its own `PostwireConfig` is merged under the platform's config
//! (`--config`, `--set`, a KRM functionConfig), so it could otherwise raise template fuel until
//! every render burns the runtime's limits, read the Application's `ARGOCD_ENV_*` variables
//! into cluster objects, or choose the key of the Secrets' checksums. Here:
//! - the keys only the platform may set (`platform`, `checksum.secretKey`) are refused in a
//!   chart's config, naming the chart template and line;
//! - [`PlatformConfig`] caps the fuel and output of every template and templated patch, and
//!   decides whether templates a chart wrote see `ARGOCD_ENV_*`;
//! - under `--chart-config=ignore`, `postwire.dev/*` annotations on the chart's objects are chart
//!   config too: they are removed before any wiring reads them, with a warning each.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::Source;
use crate::edit::{Op, Outcome, PathSeg};
use crate::error::{Error, ErrorKind, Result};
use crate::generate::GENERATED_ANNOTATION;
use crate::jinja::{self, Limits};
use crate::report::{Action, Change, Level, Note, Report};
use crate::wire::ContextV1;
use crate::workload::report_path;
use crate::workspace::Workspace;

/// Default cap on the fuel of one template render: ten times a template's default.
pub const DEFAULT_TEMPLATE_FUEL: u64 = 10 * jinja::DEFAULT_FUEL;
/// Default cap on the output of one template render, in bytes.
pub const DEFAULT_TEMPLATE_OUTPUT_BYTES: usize = 16 << 20;

/// The config keys only the platform may set, as paths.
const PLATFORM_ONLY: [&[&str]; 2] = [&["platform"], &["checksum", "secretKey"]];

/// The prefix of postwire's per-object annotations.
const ANNOTATION_PREFIX: &str = "postwire.dev/";

fn default_fuel() -> u64 {
    DEFAULT_TEMPLATE_FUEL
}

fn default_output() -> usize {
    DEFAULT_TEMPLATE_OUTPUT_BYTES
}

/// Caps a chart cannot raise (`platform` in the config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlatformConfig {
    /// The most fuel one render of a template or templated patch gets, whatever its own
    /// `fuel` asks (default 10,000,000).
    #[serde(default = "default_fuel")]
    pub template_fuel: u64,
    /// The most output one render of a template writes, whatever its own `maxOutputBytes`
    /// asks (default 16 MiB).
    #[serde(default = "default_output")]
    pub template_output_bytes: usize,
    /// Whether templates and templated patches written in a chart's own PostwireConfig see
    /// the Application's variables (`argocd.ARGOCD_ENV_*`); default false: they see
    /// `ARGOCD_APP_*` only.
    #[serde(default)]
    pub chart_templates_see_app_env: bool,
    /// The templates come from the chart's config (set by the engine, not by a config).
    #[serde(skip)]
    pub chart_templates: bool,
    /// The patches come from the chart's config (set by the engine, not by a config).
    #[serde(skip)]
    pub chart_patches: bool,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            template_fuel: DEFAULT_TEMPLATE_FUEL,
            template_output_bytes: DEFAULT_TEMPLATE_OUTPUT_BYTES,
            chart_templates_see_app_env: false,
            chart_templates: false,
            chart_patches: false,
        }
    }
}

impl PlatformConfig {
    /// Whether nothing is set (left out of a serialized config).
    pub fn is_default(&self) -> bool {
        *self == PlatformConfig::default()
    }

    /// The limits of one template render of config entry `path` (`templates[0]`, labelled
    /// `entry` in errors): what it asks for, within the caps. A limit error names the setting
    /// that bounds it: the entry's own, or the platform's cap when that is lower.
    pub fn limits(&self, path: &str, entry: &str, fuel: Option<u64>, max_output: Option<usize>) -> Limits {
        let fuel = fuel.unwrap_or(jinja::DEFAULT_FUEL);
        let max_output = max_output.unwrap_or(jinja::DEFAULT_MAX_OUTPUT);
        let setting = |capped: bool, cap: &str, own: &str| {
            if capped {
                format!("platform.{cap}")
            } else {
                format!("{path}.{own}")
            }
        };
        Limits {
            fuel: fuel.min(self.template_fuel),
            max_output: max_output.min(self.template_output_bytes),
            entry: entry.to_string(),
            fuel_setting: setting(fuel > self.template_fuel, "templateFuel", "fuel"),
            output_setting: setting(max_output > self.template_output_bytes, "templateOutputBytes", "maxOutputBytes"),
        }
    }

    /// The context templates see: without the Application's `ARGOCD_ENV_*` when a chart
    /// wrote them and the platform does not allow it.
    pub fn template_context(&self, context: &ContextV1, from_chart: bool) -> ContextV1 {
        let mut context = context.clone();
        if from_chart && !self.chart_templates_see_app_env {
            context.env.retain(|k, _| !k.starts_with("ARGOCD_ENV_"));
        }
        context
    }
}

/// Refuse the keys only the platform may set in a chart's config.
pub fn refuse_in_chart(source: &Source) -> Result<()> {
    for path in PLATFORM_ONLY {
        let mut node = Some(&source.value);
        for key in path {
            node = node.and_then(|n| n.get(key));
        }
        let Some(node) = node else { continue };
        let path = path.join(".");
        let mut err = Error::new(
            ErrorKind::Config,
            format!("a chart's PostwireConfig cannot set `{path}`: only the platform's config can"),
        )
        .with_origin(source.name.clone())
        .with_path(path.clone())
        .with_hint(format!("set `{path}` in the --config file, with --set, or in a KRM functionConfig"));
        if let Some(line) = node.origin.key_line.or(node.origin.line) {
            err = err.at_line(line);
        }
        return Err(err);
    }
    Ok(())
}

/// Whether the merged value of a top-level `key` comes from the chart: lists replace on merge,
/// so the chart's list stands when no platform source sets the key.
pub fn owned_by_chart(key: &str, chart: &[&Source], platform: &[&Source]) -> bool {
    chart.iter().any(|s| s.value.get(key).is_some()) && !platform.iter().any(|s| s.value.get(key).is_some())
}

/// Under `--chart-config=ignore`: remove every `postwire.dev/*` annotation but the
/// generated-by mark from the objects' metadata, so no wiring reads a chart's per-object
/// settings (an IRSA role, opt-outs, Datadog overrides, check exceptions).
pub fn remove_chart_annotations(ws: &mut Workspace<'_>, report: &mut Report) -> Result<()> {
    let candidates: Vec<usize> = ws.segments().filter(|&i| ws.text(i).contains(ANNOTATION_PREFIX)).collect();
    for segment in candidates {
        ws.parse(segment)?;
        for obj in ws.objects_in(segment).to_vec() {
            let tree = ws.tree(segment);
            let Some(annotations) = tree.path(obj.node, &["metadata", "annotations"]) else { continue };
            let keys: Vec<String> = tree
                .entries(annotations)
                .iter()
                .filter_map(|&(k, _)| tree.scalar(k))
                .filter(|k| k.starts_with(ANNOTATION_PREFIX) && *k != GENERATED_ANNOTATION)
                .map(String::from)
                .collect();
            if keys.is_empty() {
                continue;
            }
            let ops: Vec<Op> = keys
                .iter()
                .map(|k| Op::Remove { path: vec!["metadata".into(), "annotations".into(), PathSeg::from(k.as_str())] })
                .collect();
            let outcomes = ws.edit(segment, obj.node, &ops, &obj.display())?;
            let source = ws.source(segment);
            let path = report_path(&obj, &["metadata".into(), "annotations".into()]);
            let doc = report.document(obj.doc_number, &obj.display(), source.as_deref());
            for (key, outcome) in keys.iter().zip(outcomes) {
                if outcome != Outcome::Removed {
                    continue;
                }
                doc.changes.push(Change {
                    wiring: "config".into(),
                    path: path.clone(),
                    key: key.clone(),
                    action: Action::Removed,
                    reason: "a chart's postwire.dev/* annotation is chart config (--chart-config=ignore)".into(),
                });
                doc.notes.push(Note {
                    wiring: "config".into(),
                    level: Level::Warning,
                    message: format!(
                        "ignored and removed {key}: the chart's settings are not read (--chart-config=ignore)"
                    ),
                    rule: None,
                    line: None,
                });
            }
        }
    }
    ws.commit(report)
}
