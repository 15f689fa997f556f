//! User patches: RFC 6902 JSON patches and RFC 7386 merge patches on the objects a target
//! selects, in config order, after the built-in wirings and before checksums.
//!
//! ```yaml
//! patches:
//!   - target: {kind: Deployment, name: "web*", labelSelector: "tier=frontend"}
//!     patch:
//!       - {op: test, path: /spec/replicas, value: 2}
//!       - {op: add, path: /spec/template/spec/priorityClassName, value: high}
//!   - target: {kind: Service, name: web}
//!     merge: {metadata: {annotations: {example.com/owner: payments}}}
//! ```
//!
//! A patch is checked as a whole against the object first (in the JSON that Kubernetes reads
//! from it, see [`crate::model`]): every pointer must lead where the RFC says, every `test`
//! must hold. Only then is it carried out, through the edit layer, in place: the document's
//! diff is the patched nodes. A failed `test` fails the render or, with `onTestFailure: skip`,
//! leaves that object alone (the whole patch: RFC 6902 patches are atomic). `move` and `copy`
//! write the value they carry anew, as the JSON Kubernetes reads (strings double-quoted).
//!
//! `template:` renders a patch per object instead: a minijinja template that sees the object
//! as `object` (and `values`, `release`, `namespace`, `resources`) and writes YAML, a list of
//! RFC 6902 operations or a mapping for an RFC 7386 merge.

use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::edit::{Op, Outcome, PathSeg, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::jinja::{self, Engine};
use crate::model;
use crate::report::{Action, Change, Level, Report};
use crate::resource::{object_node, Object};
use crate::select::Selector;
use crate::wire::ContextV1;
use crate::workload::report_path;
use crate::workspace::Workspace;

use super::changes::Changes;
use super::Wiring;

const NAME: &str = "patch";

/// One user patch: a target and exactly one of `patch`, `merge` or `template`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, try_from = "RawPatch", into = "RawPatch")]
pub struct PatchConfig {
    /// A name for messages and the report (default: `patches[i]`).
    pub name: Option<String>,
    /// The objects to patch (the shared selector). A target that matches nothing is an error
    /// unless it is `optional: true`.
    pub target: Selector,
    /// What to apply.
    pub body: PatchBody,
    /// What a failed RFC 6902 `test` does: `error` (default) stops the render; `skip` leaves
    /// that object unpatched (the whole patch) and notes it in the report.
    pub on_test_failure: OnTestFailure,
    /// Fuel for a `template` patch (default 1,000,000).
    pub fuel: Option<u64>,
}

/// What a patch applies.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchBody {
    /// RFC 6902 operations.
    Json(Vec<Operation>),
    /// An RFC 7386 merge patch.
    Merge(Json),
    /// A template that writes either, per object.
    Template(String),
}

/// A patch as written in config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "PatchConfig")]
struct RawPatch {
    /// A name for messages and the report (default: `patches[i]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// The objects to patch (the shared selector). A target that matches nothing is an error
    /// unless it is `optional: true`.
    target: Selector,
    /// RFC 6902 operations (`add`, `remove`, `replace`, `move`, `copy`, `test`), applied in
    /// order to each target; JSON pointers are relative to the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    patch: Option<Vec<Operation>>,
    /// An RFC 7386 merge patch: mappings merge, `null` removes a field, anything else replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    merge: Option<Json>,
    /// A minijinja template rendered per target (bound as `object`) that writes a YAML list of
    /// RFC 6902 operations or a mapping to merge (RFC 7386).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    template: Option<String>,
    /// What a failed `test` does: `error` (default) stops the render; `skip` leaves that object
    /// unpatched and notes it in the report.
    #[serde(default)]
    on_test_failure: OnTestFailure,
    /// Fuel for a `template` patch (default 1,000,000 minijinja instructions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fuel: Option<u64>,
}

impl TryFrom<RawPatch> for PatchConfig {
    type Error = String;
    fn try_from(raw: RawPatch) -> std::result::Result<Self, String> {
        let body = match (raw.patch, raw.merge, raw.template) {
            (Some(ops), None, None) => PatchBody::Json(ops),
            (None, Some(merge), None) => PatchBody::Merge(merge),
            (None, None, Some(template)) => PatchBody::Template(template),
            (None, None, None) => {
                return Err("a patch needs one of `patch` (RFC 6902), `merge` (RFC 7386) or `template`".into())
            }
            _ => {
                return Err(
                    "a patch has exactly one of `patch`, `merge` and `template`; split it into two patches".into()
                )
            }
        };
        Ok(PatchConfig {
            name: raw.name,
            target: raw.target,
            body,
            on_test_failure: raw.on_test_failure,
            fuel: raw.fuel,
        })
    }
}

impl From<PatchConfig> for RawPatch {
    fn from(p: PatchConfig) -> RawPatch {
        let (patch, merge, template) = match p.body {
            PatchBody::Json(ops) => (Some(ops), None, None),
            PatchBody::Merge(m) => (None, Some(m), None),
            PatchBody::Template(t) => (None, None, Some(t)),
        };
        RawPatch {
            name: p.name,
            target: p.target,
            patch,
            merge,
            template,
            on_test_failure: p.on_test_failure,
            fuel: p.fuel,
        }
    }
}

/// What a failed RFC 6902 `test` does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OnTestFailure {
    /// Stop the render with an error naming the document, the patch and the operation.
    #[default]
    Error,
    /// Leave the object unpatched and note it in the report.
    Skip,
}

/// An RFC 6902 operation name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OpName {
    /// Add a member or insert an item (`/-` appends).
    Add,
    /// Remove a member or item that must exist.
    Remove,
    /// Replace a value that must exist.
    Replace,
    /// Move the value at `from` to `path`.
    Move,
    /// Copy the value at `from` to `path`.
    Copy,
    /// Check that the value at `path` equals `value`.
    Test,
}

impl fmt::Display for OpName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpName::Add => "add",
            OpName::Remove => "remove",
            OpName::Replace => "replace",
            OpName::Move => "move",
            OpName::Copy => "copy",
            OpName::Test => "test",
        })
    }
}

/// A JSON pointer (RFC 6901): empty for the whole object, else `/`-separated tokens with `~1`
/// for `/` and `~0` for `~`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct Pointer {
    text: String,
    tokens: Vec<String>,
}

impl Pointer {
    /// Parse the text of a pointer.
    pub fn parse(text: &str) -> std::result::Result<Pointer, String> {
        if text.is_empty() {
            return Ok(Pointer { text: String::new(), tokens: Vec::new() });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!("`{text}` is not a JSON pointer: it must start with `/`, e.g. /metadata/labels"));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut token = String::new();
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                match (c, c == '~') {
                    (_, true) => match chars.next() {
                        Some('0') => token.push('~'),
                        Some('1') => token.push('/'),
                        _ => {
                            return Err(format!(
                                "`{text}` is not a JSON pointer: `~` must be followed by 0 (for `~`) or 1 (for `/`)"
                            ))
                        }
                    },
                    (c, false) => token.push(c),
                }
            }
            tokens.push(token);
        }
        Ok(Pointer { text: text.to_string(), tokens })
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.text.is_empty() { "\"\"" } else { &self.text })
    }
}

impl TryFrom<String> for Pointer {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        Pointer::parse(&s)
    }
}

impl From<Pointer> for String {
    fn from(p: Pointer) -> String {
        p.text
    }
}

/// A value that may be `null` but must be written (RFC 6902 `value`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(transparent)]
#[schemars(with = "serde_json::Value")]
pub struct Present(pub Option<Json>);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Json::deserialize(d).map(|v| Present(Some(v)))
    }
}

/// One RFC 6902 operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operation {
    /// `add`, `remove`, `replace`, `move`, `copy` or `test`.
    pub op: OpName,
    /// Where, as a JSON pointer relative to the object: `/spec/template/spec/priorityClassName`,
    /// `/spec/template/spec/containers/0/env/-` (the end of a list).
    pub path: Pointer,
    /// The source of `move` and `copy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Pointer>,
    /// The value of `add`, `replace` and `test` (may be `null`).
    #[serde(default, skip_serializing_if = "is_absent")]
    pub value: Present,
}

fn is_absent(p: &Present) -> bool {
    p.0.is_none()
}

/// One edit a checked operation turns into, with its path in the edit layer's terms.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Set(Vec<PathSeg>, Value),
    Insert(Vec<PathSeg>, Option<usize>, Value),
    Remove(Vec<PathSeg>),
}

/// Why an operation cannot be applied.
#[derive(Debug, Clone, PartialEq)]
enum Failure {
    /// A `test` that does not hold (the message says what was found).
    Test(String),
    /// Anything else: a pointer that leads nowhere, a missing value.
    Invalid(String),
}

/// Where a pointer leads in the model: the parent's path in edit terms and the last token.
fn walk<'j>(
    doc: &'j Json,
    tokens: &[String],
    pointer: &Pointer,
) -> std::result::Result<(&'j Json, Vec<PathSeg>), Failure> {
    let mut node = doc;
    let mut path = Vec::new();
    for (depth, token) in tokens.iter().enumerate() {
        let prefix = || {
            let shown: Vec<String> = tokens[..=depth].iter().map(|t| t.replace('~', "~0").replace('/', "~1")).collect();
            format!("/{}", shown.join("/"))
        };
        node = match node {
            Json::Object(map) => match map.get(token) {
                Some(v) => {
                    path.push(PathSeg::Key(token.clone()));
                    v
                }
                None => return Err(Failure::Invalid(format!("{pointer}: {} does not exist", prefix()))),
            },
            Json::Array(items) => {
                let i =
                    index(token, items.len(), false).map_err(|why| Failure::Invalid(format!("{pointer}: {why}")))?;
                path.push(PathSeg::Index(i));
                &items[i]
            }
            _ => {
                return Err(Failure::Invalid(format!(
                    "{pointer}: {} is inside {}, which has no members",
                    prefix(),
                    describe(node)
                )))
            }
        };
    }
    Ok((node, path))
}

/// An array index token: digits without leading zeros, below `len` (or equal, or `-`, when
/// adding).
fn index(token: &str, len: usize, adding: bool) -> std::result::Result<usize, String> {
    if adding && token == "-" {
        return Ok(len);
    }
    let valid =
        !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
    let i =
        valid.then(|| token.parse::<usize>().ok()).flatten().ok_or_else(|| format!("`{token}` is not a list index"))?;
    let limit = if adding { len } else { len.saturating_sub(1) };
    if i > limit || (!adding && len == 0) {
        return Err(format!("index {i} is out of range (the list has {len} items)"));
    }
    Ok(i)
}

fn describe(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "a mapping",
    }
}

fn get<'j>(doc: &'j Json, p: &Pointer) -> std::result::Result<&'j Json, Failure> {
    walk(doc, &p.tokens, p).map(|(v, _)| v)
}

fn get_mut<'j>(doc: &'j mut Json, tokens: &[String]) -> &'j mut Json {
    tokens.iter().fold(doc, |node, t| match node {
        Json::Object(map) => map.get_mut(t).expect("walked"),
        Json::Array(items) => &mut items[t.parse::<usize>().expect("walked")],
        _ => unreachable!("walked"),
    })
}

/// Add `value` at `p` in the model; the step that does it in the document.
fn add(doc: &mut Json, p: &Pointer, value: Json) -> std::result::Result<Vec<Step>, Failure> {
    let Some((last, parent_tokens)) = p.tokens.split_last() else {
        return replace_root(doc, value);
    };
    let (parent, parent_path) = walk(doc, parent_tokens, p)?;
    let step = match parent {
        Json::Object(_) => {
            let mut path = parent_path.clone();
            path.push(PathSeg::Key(last.clone()));
            Step::Set(path, Value::from_json(&value))
        }
        Json::Array(items) => {
            let i = index(last, items.len(), true).map_err(|why| Failure::Invalid(format!("{p}: {why}")))?;
            Step::Insert(parent_path.clone(), (last != "-").then_some(i), Value::from_json(&value))
        }
        other => return Err(Failure::Invalid(format!("{p}: the parent is {}, which has no members", describe(other)))),
    };
    match get_mut(doc, parent_tokens) {
        Json::Object(map) => {
            map.insert(last.clone(), value);
        }
        Json::Array(items) => {
            let i = if last == "-" { items.len() } else { last.parse().expect("checked") };
            items.insert(i, value);
        }
        _ => unreachable!("checked"),
    }
    Ok(vec![step])
}

/// `add` or `replace` of the whole object: its fields, one by one.
fn replace_root(doc: &mut Json, value: Json) -> std::result::Result<Vec<Step>, Failure> {
    let (Json::Object(old), Json::Object(new)) = (&*doc, &value) else {
        return Err(Failure::Invalid("the whole object can only be replaced by a mapping".into()));
    };
    let mut steps: Vec<Step> =
        old.keys().filter(|k| !new.contains_key(*k)).map(|k| Step::Remove(vec![PathSeg::Key(k.clone())])).collect();
    steps.extend(new.iter().map(|(k, v)| Step::Set(vec![PathSeg::Key(k.clone())], Value::from_json(v))));
    *doc = value;
    Ok(steps)
}

fn remove(doc: &mut Json, p: &Pointer) -> std::result::Result<(Vec<Step>, Json), Failure> {
    let Some((last, parent_tokens)) = p.tokens.split_last() else {
        return Err(Failure::Invalid("the whole object cannot be removed".into()));
    };
    let (_, path) = walk(doc, &p.tokens, p)?;
    let removed = match get_mut(doc, parent_tokens) {
        Json::Object(map) => map.remove(last).expect("walked"),
        Json::Array(items) => items.remove(last.parse::<usize>().expect("walked")),
        _ => unreachable!("walked"),
    };
    Ok((vec![Step::Remove(path)], removed))
}

fn value_of(op: &Operation) -> std::result::Result<Json, Failure> {
    op.value.0.clone().ok_or_else(|| Failure::Invalid(format!("`{}` needs a `value`", op.op)))
}

fn from_of(op: &Operation) -> std::result::Result<&Pointer, Failure> {
    op.from.as_ref().ok_or_else(|| Failure::Invalid(format!("`{}` needs a `from` pointer", op.op)))
}

/// Check one operation against the model and carry it out there; the steps that do it in the
/// document.
/// `quote_found`: whether a failed `test` may say what it found (never for a Secret's data).
fn check(doc: &mut Json, op: &Operation, quote_found: bool) -> std::result::Result<Vec<Step>, Failure> {
    match op.op {
        OpName::Add => add(doc, &op.path, value_of(op)?),
        OpName::Remove => remove(doc, &op.path).map(|(steps, _)| steps),
        OpName::Replace => {
            let value = value_of(op)?;
            let (_, path) = walk(doc, &op.path.tokens, &op.path)?;
            if path.is_empty() {
                return replace_root(doc, value);
            }
            *get_mut(doc, &op.path.tokens) = value.clone();
            Ok(vec![Step::Set(path, Value::from_json(&value))])
        }
        OpName::Move => {
            let from = from_of(op)?;
            let value = get(doc, from)?.clone();
            if from.tokens == op.path.tokens {
                return Ok(Vec::new());
            }
            if op.path.tokens.starts_with(&from.tokens) {
                return Err(Failure::Invalid(format!("cannot move {from} into its own child {}", op.path)));
            }
            let (mut steps, _) = remove(doc, from)?;
            steps.extend(add(doc, &op.path, value)?);
            Ok(steps)
        }
        OpName::Copy => {
            let value = get(doc, from_of(op)?)?.clone();
            add(doc, &op.path, value)
        }
        OpName::Test => {
            let want = value_of(op)?;
            let found = get(doc, &op.path).map_err(|f| match f {
                Failure::Invalid(why) => Failure::Test(why),
                t => t,
            })?;
            if model::equal(found, &want) {
                Ok(Vec::new())
            } else {
                let found = if quote_found { found.to_string() } else { "a value not shown (a Secret's)".into() };
                Err(Failure::Test(format!("{} is {found}, not {want}", op.path)))
            }
        }
    }
}

/// An RFC 7386 merge of `patch` into `target` (at `path`): the steps that do it.
fn merge_steps(target: &Json, patch: &Json, path: &mut Vec<PathSeg>, steps: &mut Vec<Step>) {
    let Json::Object(fields) = patch else {
        steps.push(Step::Set(path.clone(), Value::from_json(patch)));
        return;
    };
    let Json::Object(existing) = target else {
        steps.push(Step::Set(path.clone(), Value::from_json(&without_nulls(patch))));
        return;
    };
    for (key, value) in fields {
        path.push(PathSeg::Key(key.clone()));
        match (value, existing.get(key)) {
            (Json::Null, Some(_)) => steps.push(Step::Remove(path.clone())),
            (Json::Null, None) => {}
            (Json::Object(_), Some(old @ Json::Object(_))) => merge_steps(old, value, path, steps),
            (value, _) => steps.push(Step::Set(path.clone(), Value::from_json(&without_nulls(value)))),
        }
        path.pop();
    }
}

/// A merge patch applied to nothing: its members without the `null` ones, all the way down.
fn without_nulls(v: &Json) -> Json {
    match v {
        Json::Object(map) => {
            Json::Object(map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect())
        }
        other => other.clone(),
    }
}

/// The user patches, in config order.
pub struct Patches {
    patches: Vec<PatchConfig>,
    values: Json,
    context: ContextV1,
    platform: crate::platform::PlatformConfig,
}

impl Patches {
    /// Build the wiring.
    pub fn new(patches: &[PatchConfig], inputs: &super::TemplateInputs, context: &ContextV1) -> Self {
        Patches {
            patches: patches.to_vec(),
            values: inputs.values.clone(),
            context: inputs.platform.template_context(context, inputs.platform.chart_patches),
            platform: inputs.platform.clone(),
        }
    }

    fn label(&self, i: usize) -> String {
        match &self.patches[i].name {
            Some(name) => format!("patches[{i}] ({name})"),
            None => format!("patches[{i}]"),
        }
    }
}

/// A template's output as a patch body: a list of operations or a mapping to merge.
fn body_of_template(text: &str, label: &str) -> Result<PatchBody> {
    let parsed = crate::yaml::Tree::parse(text, 0)
        .map_err(|e| Error::new(ErrorKind::Config, format!("{label}: the template does not write YAML: {e}")))?;
    let root = parsed.root().filter(|&r| !parsed.is_null(r));
    let Some(root) = root else {
        return Ok(PatchBody::Json(Vec::new()));
    };
    let json = model::json(&parsed, root);
    match json {
        Json::Array(_) => {
            let ops: Vec<Operation> = serde_json::from_value(json).map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!("{label}: the template writes a list that is not RFC 6902 operations: {e}"),
                )
            })?;
            Ok(PatchBody::Json(ops))
        }
        Json::Object(_) => Ok(PatchBody::Merge(json)),
        other => Err(Error::new(
            ErrorKind::Config,
            format!(
                "{label}: the template writes {}, not a list of operations or a mapping to merge",
                describe(&other)
            ),
        )),
    }
}

impl Wiring for Patches {
    fn name(&self) -> &'static str {
        NAME
    }

    fn kinds(&self) -> Vec<String> {
        self.patches.iter().filter_map(|p| p.target.kind.clone()).collect()
    }

    fn apply(&self, ws: &mut Workspace<'_>, report: &mut Report) -> Result<()> {
        if self.patches.iter().any(|p| p.target.kind.is_none()) {
            let all: Vec<usize> = ws.segments().collect();
            for i in all {
                ws.parse(i)?;
            }
        }
        let needs_templates = self.patches.iter().any(|p| matches!(p.body, PatchBody::Template(_)));
        for i in 0..self.patches.len() {
            let patch = &self.patches[i];
            let label = self.label(i);
            let objects = ws.objects();
            let targets: Vec<Object> = patch
                .target
                .pick(ws, &objects, self.context.namespace.as_deref(), &format!("patches[{i}].target"))?
                .into_iter()
                .cloned()
                .collect();
            let engine = needs_templates.then(|| Engine::new(Arc::new(jinja::resources(ws, &objects))));
            for obj in &targets {
                let target = Target { index: i, label: &label, patch, obj };
                self.apply_one(ws, report, &target, engine.as_ref())?;
            }
        }
        Ok(())
    }
}

/// One patch on one object: what messages and the report name it by.
struct Target<'a> {
    /// The patch's index in `patches`.
    index: usize,
    /// `patches[i]` or `patches[i] (name)`.
    label: &'a str,
    patch: &'a PatchConfig,
    obj: &'a Object,
}

/// The steps of a patch on an object, each with its operation's index and name.
type Steps = Vec<(usize, OpName, Step)>;

impl Patches {
    /// Check a patch as a whole against the object, then carry it out step by step.
    fn apply_one(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        target: &Target<'_>,
        engine: Option<&Engine>,
    ) -> Result<()> {
        let (label, obj) = (target.label, target.obj);
        crate::progress::step(|| format!("applying {label} to {} (document {})", obj.display(), obj.doc_number));
        let node = object_node(ws.tree(obj.segment), obj.place).expect("a picked object is in its document");
        let mut doc = model::json(ws.tree(obj.segment), node);
        let rendered;
        let body = match &target.patch.body {
            PatchBody::Template(source) => {
                rendered = self.render_body(ws, target, source, engine, &doc)?;
                &rendered
            }
            body => body,
        };
        let Some(steps) = target.steps(ws, report, body, &mut doc)? else {
            return Ok(());
        };
        let merge = matches!(body, PatchBody::Merge(_));
        for (j, name, step) in steps {
            let reason = if merge { format!("{label} (merge)") } else { format!("{label} operation {j} ({name})") };
            apply_step(ws, report, obj, step, reason)?;
        }
        Ok(())
    }

    /// Render a `template:` patch for the object (bound as `object`) into a patch body.
    fn render_body(
        &self,
        ws: &Workspace<'_>,
        target: &Target<'_>,
        source: &str,
        engine: Option<&Engine>,
        doc: &Json,
    ) -> Result<PatchBody> {
        let (i, label) = (target.index, target.label);
        let engine = engine.expect("an engine for template patches");
        let mut context = jinja::context(&self.values, &self.context);
        context.insert("object".into(), doc.clone());
        let limits = self.platform.limits(&format!("patches[{i}]"), label, target.patch.fuel, None);
        let text = engine.render(label, source, &Json::Object(context), limits).map_err(|e| target.located(ws, e))?;
        body_of_template(&text, label).map_err(|e| target.located(ws, e))
    }
}

impl Target<'_> {
    /// An error about this object, located at its document.
    fn located(&self, ws: &Workspace<'_>, error: Error) -> Error {
        error.in_document(ws.location(self.obj.segment, Some(self.obj.display())))
    }

    /// The steps of `body` on the object, checked against its model `doc`; None when a failed
    /// `test` leaves the object unpatched (`onTestFailure: skip`, noted in the report).
    fn steps(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        body: &PatchBody,
        doc: &mut Json,
    ) -> Result<Option<Steps>> {
        let label = self.label;
        match body {
            PatchBody::Json(ops) => match json_steps(doc, ops, self.obj.kind != "Secret") {
                Ok(steps) => Ok(Some(steps)),
                Err((j, Failure::Test(why))) if self.patch.on_test_failure == OnTestFailure::Skip => {
                    let mut changes = Changes::new(NAME, self.obj);
                    changes.note(Level::Info, format!("{label} skipped: operation {j} (test) failed: {why}"));
                    changes.apply(ws, report)?;
                    Ok(None)
                }
                Err((j, Failure::Test(why))) => Err(self.located(
                    ws,
                    Error::new(ErrorKind::Wiring, format!("{label} operation {j} (test) failed: {why}"))
                        .with_hint("fix the test, or set `onTestFailure: skip` to leave such objects unpatched"),
                )),
                Err((j, Failure::Invalid(why))) => Err(self.located(
                    ws,
                    Error::new(ErrorKind::Wiring, format!("{label} operation {j} ({}): {why}", ops[j].op)),
                )),
            },
            PatchBody::Merge(merge) => {
                if !merge.is_object() {
                    return Err(self.located(
                        ws,
                        Error::new(ErrorKind::Config, format!("{label}: a merge patch of an object must be a mapping")),
                    ));
                }
                let mut found = Vec::new();
                merge_steps(doc, merge, &mut Vec::new(), &mut found);
                Ok(Some(found.into_iter().map(|s| (0, OpName::Replace, s)).collect()))
            }
            PatchBody::Template(_) => unreachable!("rendered before"),
        }
    }
}

/// The steps of RFC 6902 operations, each checked against the model as the ones before it left
/// it; else the index of the first that fails and why.
fn json_steps(doc: &mut Json, ops: &[Operation], quote_found: bool) -> std::result::Result<Steps, (usize, Failure)> {
    let mut steps = Vec::new();
    for (j, op) in ops.iter().enumerate() {
        let found = check(doc, op, quote_found).map_err(|f| (j, f))?;
        steps.extend(found.into_iter().map(|s| (j, op.op, s)));
    }
    Ok(steps)
}

impl Step {
    /// The edit, and the path it reports under (an insert at the end: index `usize::MAX`).
    fn into_op(self) -> (Op, Vec<PathSeg>) {
        match self {
            Step::Set(path, value) => (Op::Set { path: path.clone(), value }, path),
            Step::Insert(path, index, item) => {
                let mut at = path.clone();
                at.push(PathSeg::Index(index.unwrap_or(usize::MAX)));
                (Op::Insert { path, index, item }, at)
            }
            Step::Remove(path) => (Op::Remove { path: path.clone() }, path),
        }
    }
}

/// Carry out one step on the document as the steps before it left it (committed, so the next
/// step reads it), and report what it changed. Not a [`Changes`]: a patch reports removals too,
/// and each step needs the commit of the one before.
fn apply_step(ws: &mut Workspace<'_>, report: &mut Report, obj: &Object, step: Step, reason: String) -> Result<()> {
    let base = object_node(ws.tree(obj.segment), obj.place).expect("the object is still there");
    let (edit, at) = step.into_op();
    let outcome = ws.edit(obj.segment, base, &[edit], &obj.display())?[0];
    ws.commit(report)?;
    let action = match outcome {
        Outcome::Unchanged => return Ok(()),
        Outcome::Added => Action::Added,
        Outcome::Updated => Action::Updated,
        Outcome::Removed => Action::Removed,
    };
    let (parent, key) = match at.split_last() {
        Some((PathSeg::Index(usize::MAX), parent)) => (parent.to_vec(), "-".to_string()),
        Some((last, parent)) => (parent.to_vec(), last.to_string()),
        None => (Vec::new(), String::new()),
    };
    let source = ws.source(obj.segment);
    report.document(obj.doc_number, &obj.display(), source.as_deref()).changes.push(Change {
        wiring: NAME.into(),
        path: report_path(obj, &parent),
        key,
        action,
        reason,
    });
    Ok(())
}

#[cfg(test)]
mod tests;
