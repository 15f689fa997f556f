//! Wirings: each one a module with its own config section and one struct built from it, run
//! by [`crate::pipeline::wirings`] in a fixed order (generate → mutate → patch → checksums last,
//! so hashes see the final content). A wiring never imports another wiring, the pipeline or
//! the whole config; what Istio and Rollouts decide together is [`istio::TrafficPlan`].
//!
//! ## Writing a wiring
//!
//! - One module `core/src/wiring/<name>.rs` with its config section (serde `rename_all =
//!   "camelCase"`, `deny_unknown_fields`, `JsonSchema`, doc comments on every field: they become
//!   the JSON Schema and error hints) and `validate(&self) -> Result<(), config::Invalid>` for
//!   checks across fields (the error keeps the file and line); one struct built from that section
//!   (and, if it needs them, the workload kinds and the render context) implementing [`Wiring`]
//!   (`name`, `kinds` = every kind it must see parsed, INCLUDING the kinds it generates so a second
//!   run recognises its own output, `apply`); table tests that cite the upstream behaviour they
//!   transcribe. In `core/src/pipeline.rs`: one field in `PostwireConfig`, one line in its
//!   `validate`, one line in `wirings` at its place in the order.
//! - Read objects with `ws.objects()`, trees with `ws.tree(segment)`; pick them with
//!   `select::Selector` (a selector that matches nothing is an error unless `optional`); traverse
//!   pods with `workload::find`/`workload::select`, `workload::containers`, `workload::switch`
//!   (per-object `postwire.dev/*` "true"/"false" annotations).
//! - Change an existing object ONLY through one [`changes::Changes`] per object: `set`, `insert`,
//!   `plan` (any `edit::Op`), `note`; then `apply(ws, report)` edits once and records every
//!   Added/Updated outcome as a report change with its reason. Pod specs through [`podspec`]:
//!   `ensure_env` (front or back), `ensure_mount` (one clash policy: a different mount at the path
//!   is kept with a warning), `ensure_volume`, `set_if_absent` for labels and annotations. Never
//!   splice text yourself: the diff of a changed document is only the lines the change adds or
//!   replaces (that is tested: keep it so).
//! - New documents ONLY through `generate::generate(ws, wiring_name, Value::Map(..),
//!   OnConflict::{Error,Skip,Replace})`: it validates apiVersion/kind/metadata.name, marks
//!   `postwire.dev/generated-by: <wiring>`, adds Helm 4's filename annotation when the input has it,
//!   appends in call order (so generate in a deterministic order), and regenerates postwire's own
//!   earlier output so a second run is byte-identical.
//! - Run `postwire_core::render(&RenderRequestV1 { .. })` end to end in core tests (`request.set =
//!   vec!["istio.enabled=true".into()]`, or a `config: Some(ConfigFileV1 { name, content })`).

pub mod changes;
pub mod checksum;
pub mod datadog;
pub mod irsa;
pub mod istio;
pub mod patch;
pub mod podspec;
pub mod recipes;
pub mod template;
#[cfg(test)]
pub(crate) mod test_support;

use crate::error::Result;
use crate::platform::PlatformConfig;
use crate::report::Report;
use crate::workspace::Workspace;

/// One wiring.
pub trait Wiring {
    /// Its name in reports (`checksum`).
    fn name(&self) -> &'static str;
    /// The document kinds it needs parsed (everything else stays unparsed bytes).
    fn kinds(&self) -> Vec<String>;
    /// Plan edits in the workspace and record what it did (the engine commits them).
    fn apply(&self, ws: &mut Workspace<'_>, report: &mut Report) -> Result<()>;
}

/// What user templates and templated patches read besides their own entries: the config's
/// free-form `values` and the platform's caps.
pub struct TemplateInputs {
    /// `values:`.
    pub values: serde_json::Value,
    /// `platform:`.
    pub platform: PlatformConfig,
}
