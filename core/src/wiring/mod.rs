//! Wirings: each one a module with one struct built from its config, run by [`pipeline`] in a
//! fixed order (generate → mutate → patch → checksums last, so hashes see the final content).
//!
//! ## Writing a wiring
//!
//! - A wiring is one module `core/src/wiring/<name>.rs` with its config type (serde `rename_all =
//!   "camelCase"`, `deny_unknown_fields`, `JsonSchema`, doc comments on every field — they become the
//!   JSON Schema and error hints), one struct built from config implementing `wiring::Wiring`
//!   (`name`, `kinds` = every kind it must see parsed, INCLUDING the kinds it generates so a second
//!   run can recognise its own output, `apply`), and its own table tests. Add it to
//!   `wiring::pipeline` in `core/src/wiring/mod.rs` in the documented order (generate → mutate →
//!   patch → checksums last) and add ONE field for your config to `PostwireConfig` in
//!   `core/src/config/mod.rs` (keep your config types in your wiring module; semantic checks go in
//!   config's `validate()` pattern so errors keep file and line, or in your config type's own
//!   deserialization via `try_from`). Wirings never import each other or `engine.rs`.
//! - Read objects with `ws.objects()` (each `Object` has `segment`, `node`, kind, name, namespace,
//!   `place`), trees with `ws.tree(segment)`. Pick objects with `select::Selector`
//!   (group/version/kind, name glob or `nameRegex`, namespace, `labelSelector`/`annotationSelector`
//!   in Kubernetes syntax, `optional`); a selector that matches nothing is an error naming it unless
//!   `optional`. Traverse pods with `workload::find` (kind table → pod template → pod spec),
//!   `workload::containers` (init, regular, ephemeral), `workload::switch` (per-object
//!   `postwire.dev/*` "true"/"false" annotations with errors), `workload::report_path`.
//! - Edit ONLY through `ws.edit(segment, obj.node, &ops, &obj.display())` with `edit::Op` (`Set` a
//!   node at a path creating missing mappings; `Remove`; `Insert` into a sequence at an index or the
//!   end; `Merge` into a sequence by a key field such as `name` or `mountPath`, front or back —
//!   updates the matching item's fields, never duplicates). Paths are `Vec<PathSeg>`
//!   (`PathSeg::from("spec")`, `PathSeg::Index(0)`) or `edit::parse_pointer("/spec/template")`.
//!   Values are `edit::Value` (`Str` is always written quoted, `Int`, `Bool`, `Map`, `Seq`, `Null`).
//!   Outcomes (`Unchanged/Added/Updated/Removed`) drive the report: record a `report::Change` only
//!   for Added/Updated/Removed, with a reason in words. The engine commits after each wiring; the
//!   diff of a changed document is only the lines the change adds or replaces (that is tested: keep
//!   it so). Never splice text yourself.
//! - New documents ONLY through `generate::generate(ws, wiring_name, Value::Map(..),
//!   OnConflict::{Error,Skip,Replace})`: it validates apiVersion/kind/metadata.name, marks
//!   `postwire.dev/generated-by: <wiring>`, adds Helm 4's filename annotation when the input has it,
//!   appends in call order (so generate in a deterministic order), and regenerates postwire's own
//!   earlier output so a second run is byte-identical.
//! - Warnings are `report::Note { level: Level::Warning, .. }` on the document; hosts print them.
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
