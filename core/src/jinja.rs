//! The template engine behind `templates:`, templated `patches:` and the recipes: minijinja
//! with the filters a Kubernetes user needs, bounded by fuel and an output-size limit.
//!
//! Templates see only what postwire hands them (the rendered resources, `values`, the release
//! and namespace, the Argo CD application environment): the environment has no loader and no
//! function that reads files, the process environment or the network. Undefined values are
//! errors (a typo must not render as an empty string), and every error names the template, the
//! line and the expression.
//!
//! Filters beside minijinja's built-ins (`default`, `indent`, `tojson`, `join`, `upper`…):
//!
//! | filter | does |
//! | --- | --- |
//! | `to_yaml` | YAML text, every string double-quoted (`{a: 1}` → `a: 1`) |
//! | `to_json` | compact JSON |
//! | `b64encode`, `b64decode` | standard base64 (decoding must give UTF-8 text) |
//! | `sha256` | hex SHA-256 of the text |
//! | `quote` | a double-quoted YAML/JSON string (`on` → `"on"`) |
//! | `nindent(n)` | a line break, then `indent(n)` (Helm's `nindent`) |
//! | `bytes` | a Kubernetes quantity in bytes, rounded up (`"512Mi"` → 536870912) |
//! | `cores` | a CPU quantity in cores (`"500m"` → 0.5) |
//! | `quantity` | any quantity as a number (`"1.5k"` → 1500) |
//! | `label_value` | a valid label value: invalid characters become `-`, at most 63, alphanumeric ends |
//! | `dns_label` | an RFC 1123 label: lower case, `-` for the rest, at most 63 |
//! | `dns_subdomain` | an RFC 1123 subdomain: like `dns_label` but `.` is kept, at most 253 |

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use minijinja::value::{Enumerator, Kwargs, Object as JObject, ObjectRepr, Serde, Value as JValue};
use minijinja::{Environment, ErrorKind as JErrorKind, UndefinedBehavior};
use serde_json::Value as Json;

use crate::edit::Value;
use crate::emit;
use crate::error::{Error, ErrorKind, Result};
use crate::generate::{generate, OnConflict, GENERATED_ANNOTATION};
use crate::model;
use crate::report::{Action, Change, Report};
use crate::resource::Object;
use crate::stream::Stream;
use crate::wire::ContextV1;
use crate::workspace::Workspace;
use crate::yaml::Tree;

/// Default fuel per render: about a million instructions. A template over every object of a
/// large chart needs a few thousand.
pub const DEFAULT_FUEL: u64 = 1_000_000;
/// Default largest output of one render, in bytes.
pub const DEFAULT_MAX_OUTPUT: usize = 1 << 20;

/// How far one render may go, and what to tell the user when it goes too far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// minijinja fuel (instructions, and memory at about 64 bytes a unit).
    pub fuel: u64,
    /// Largest output in bytes.
    pub max_output: usize,
    /// The config entry being rendered, in limit errors: `templates[0] (pdb)`.
    pub entry: String,
    /// The setting that bounds `fuel`: `templates[0].fuel`, or the platform's cap.
    pub fuel_setting: String,
    /// The setting that bounds `max_output`.
    pub output_setting: String,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: DEFAULT_FUEL,
            max_output: DEFAULT_MAX_OUTPUT,
            entry: "the template".into(),
            fuel_setting: "fuel".into(),
            output_setting: "maxOutputBytes".into(),
        }
    }
}

/// The JSON of `objects`, as templates see them (`resources`, `find`, `select`).
pub fn resources(ws: &Workspace<'_>, objects: &[Object]) -> Vec<Json> {
    objects.iter().map(|o| model::json(ws.tree(o.segment), o.node)).collect()
}

/// Parse every document of the stream (templates may look at any object); returns the objects.
pub fn parse_all(ws: &mut Workspace<'_>) -> Result<Vec<Object>> {
    let segments: Vec<usize> = ws.segments().collect();
    for i in segments {
        ws.parse(i)?;
    }
    Ok(ws.objects())
}

/// The variables every template sees: `values` (the config's free-form values, `{}` when none),
/// `release` (`name` and `namespace`, undefined when the host does not say), `namespace` (null
/// when not known), and `argocd`
/// (the Argo CD application environment: `ARGOCD_APP_NAME` and the rest, empty outside Argo CD).
/// `resources` (every object of the render) is a global of the [`Engine`].
pub fn context(values: &Json, ctx: &ContextV1) -> serde_json::Map<String, Json> {
    let mut map = serde_json::Map::new();
    let values = if values.is_null() { Json::Object(serde_json::Map::new()) } else { values.clone() };
    map.insert("values".into(), values);
    // Unknown release fields are left out, not null, so that templates can say
    // `release.name | default("app")` (a null would render as `none`).
    let mut release = serde_json::Map::new();
    for (key, value) in [("name", &ctx.release_name), ("namespace", &ctx.namespace)] {
        if let Some(v) = value {
            release.insert(key.into(), Json::String(v.clone()));
        }
    }
    map.insert("release".into(), Json::Object(release));
    map.insert("namespace".into(), ctx.namespace.clone().map_or(Json::Null, Json::String));
    map.insert(
        "argocd".into(),
        Json::Object(
            ctx.env
                .iter()
                .filter(|(k, _)| k.starts_with("ARGOCD_"))
                .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                .collect(),
        ),
    );
    map
}

/// Whether postwire generated an object (in this run or an earlier one).
pub fn is_generated(ws: &Workspace<'_>, obj: &Object) -> bool {
    ws.is_generated(obj.segment)
        || ws.tree(obj.segment).path(obj.node, &["metadata", "annotations", GENERATED_ANNOTATION]).is_some()
}

/// The objects a template writes: every non-empty document of `text` as a value to generate.
/// `what` names the template in errors.
pub fn documents(text: &str, what: &str) -> Result<Vec<Value>> {
    let stream = Stream::split(text);
    let mut out = Vec::new();
    for (i, seg) in stream.segments.iter().enumerate() {
        if !seg.has_content {
            continue;
        }
        let n = out.len() + 1;
        let tree = Tree::parse(stream.segment_text(i), seg.line - 1).map_err(|e| {
            Error::new(ErrorKind::Config, format!("{what} writes invalid YAML (output document {n}): {e}"))
                .with_hint("render the template with `postwire render` and look at the line named")
        })?;
        let Some(root) = tree.root().filter(|&r| !tree.is_null(r)) else {
            continue;
        };
        if !tree.is_mapping(root) {
            let found = match model::json(&tree, root) {
                Json::Array(_) => "a list".to_string(),
                other => format!("the scalar {other}"),
            };
            return Err(Error::new(
                ErrorKind::Config,
                format!("{what} writes {found} (output document {n}), not a Kubernetes object"),
            )
            .with_hint("each document a template writes is a mapping with apiVersion, kind and metadata.name"));
        }
        out.push(model::value(&tree, root));
    }
    Ok(out)
}

/// Parse the documents of `kind` that the peek cannot rule out, so [`generate`] sees an
/// earlier run's object of that kind.
pub fn parse_kind(ws: &mut Workspace<'_>, kind: &str) -> Result<()> {
    ws.parse_kind(kind)
}

/// Generate each of `objects`, as `wiring`; report each in the report. Errors name `what`.
pub fn generate_all(
    ws: &mut Workspace<'_>,
    report: &mut Report,
    wiring: &str,
    what: &str,
    objects: Vec<Value>,
    on_conflict: OnConflict,
    reason: &str,
) -> Result<()> {
    for object in objects {
        if let Some(Value::Str(kind)) = object.get("kind") {
            parse_kind(ws, &kind.clone())?;
        }
        let made = generate(ws, wiring, object, on_conflict)
            .map_err(|e| Error::new(ErrorKind::Config, format!("{what}: {}", e.message())))?;
        if let Some(segment) = made {
            let obj = ws.objects_in(segment).first().cloned().expect("a generated object");
            report.document(obj.doc_number, &obj.display(), None).changes.push(Change {
                wiring: wiring.to_string(),
                path: String::new(),
                key: String::new(),
                action: Action::Added,
                reason: reason.to_string(),
            });
        }
    }
    Ok(())
}

/// A template environment with postwire's filters and the functions that query the rendered
/// resources: `find(kind, name, namespace=none)` (the object or none) and `select(kind=none,
/// labels=none)` (every object of the kind whose labels include all of `labels`).
pub struct Engine {
    env: Environment<'static>,
    /// Each template compiled once, by name: a `forEach` template or a recipe renders once per
    /// object, with the same source and fuel each time.
    compiled: RefCell<HashMap<String, Compiled>>,
}

/// A template compiled into its own environment (which holds the render's fuel). Each render
/// of it gets that fuel afresh: minijinja makes a `FuelTracker` per render's `State`
/// (mitsuhiko/minijinja 3.1.0, `src/vm/state.rs:127`).
struct Compiled {
    source: String,
    fuel: u64,
    env: Environment<'static>,
}

/// The `resources` global: every object, each turned into a template value when a template
/// first reads it, not all of them up front for every template (most read none).
#[derive(Debug)]
struct Resources {
    all: Arc<Vec<Json>>,
    values: Vec<OnceLock<JValue>>,
}

impl JObject for Resources {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    // minijinja has already turned a negative index into one from the start (`get_item_opt`
    // in minijinja 3.1.0's src/value/mod.rs), as for any sequence.
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let i = key.as_usize()?;
        let object = self.all.get(i)?;
        Some(self.values[i].get_or_init(|| JValue::from(Serde(object))).clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.all.len())
    }
}

fn fail(detail: impl Into<String>) -> minijinja::Error {
    minijinja::Error::new(JErrorKind::InvalidOperation, detail.into())
}

impl Engine {
    /// An environment over `resources` (the JSON of every object of the render).
    pub fn new(resources: Arc<Vec<Json>>) -> Engine {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_debug(true);
        env.set_recursion_limit(100);
        env.set_formatter(|out, state, value| {
            if value.as_str().is_some_and(starts_a_document) {
                return Err(fail(
                    "a value holds a line that starts a YAML document (`---` or `...`), which would add \
                     objects to the render; write it with `| tojson` or `| quote`, or indent it",
                ));
            }
            minijinja::escape_formatter(out, state, value)
        });
        env.add_filter("to_yaml", |v: JValue| to_yaml(&v));
        env.add_filter("to_json", |v: JValue| to_json(&v));
        env.add_filter("b64encode", |s: String| Ok::<_, minijinja::Error>(b64encode(&s)));
        env.add_filter("b64decode", |s: String| b64decode(&s));
        env.add_filter("sha256", |s: String| Ok::<_, minijinja::Error>(crate::digest::sha256_hex(s.as_bytes())));
        env.add_filter("quote", |v: JValue| Ok::<_, minijinja::Error>(quote(&v)));
        env.add_filter("nindent", |s: String, n: usize| Ok::<_, minijinja::Error>(nindent(&s, n)));
        env.add_filter("bytes", |v: JValue| quantity_arg(&v).and_then(|q| bytes(&q)));
        env.add_filter("cores", |v: JValue| quantity_arg(&v).and_then(|q| cores(&q)));
        env.add_filter("quantity", |v: JValue| quantity_arg(&v).and_then(|q| quantity_value(&q)));
        env.add_filter("label_value", |s: String| Ok::<_, minijinja::Error>(crate::names::label_value(&s, '-')));
        env.add_filter("dns_label", |s: String| dns_name(&s, false));
        env.add_filter("dns_subdomain", |s: String| dns_name(&s, true));
        let values = resources.iter().map(|_| OnceLock::new()).collect();
        env.add_global("resources", JValue::from_object(Resources { all: resources.clone(), values }));
        let all = resources.clone();
        env.add_function("find", move |kind: String, name: String, kwargs: Kwargs| {
            let namespace: Option<String> = kwargs.get("namespace")?;
            kwargs.assert_all_used()?;
            let hit = all.iter().find(|o| {
                o["kind"] == *kind
                    && o["metadata"]["name"] == *name
                    && namespace.as_ref().is_none_or(|ns| o["metadata"]["namespace"] == **ns)
            });
            Ok::<_, minijinja::Error>(hit.map_or(JValue::from(()), |o| JValue::from(Serde(o))))
        });
        let all = resources;
        env.add_function("select", move |kwargs: Kwargs| {
            let kind: Option<String> = kwargs.get("kind")?;
            let labels: Option<JValue> = kwargs.get("labels")?;
            kwargs.assert_all_used()?;
            let labels = labels.map(|l| serde_json::to_value(&l).unwrap_or(Json::Null));
            let hits: Vec<&Json> = all
                .iter()
                .filter(|o| kind.as_ref().is_none_or(|k| o["kind"] == **k))
                .filter(|o| match &labels {
                    Some(Json::Object(want)) => want.iter().all(|(k, v)| o["metadata"]["labels"][k] == *v),
                    _ => true,
                })
                .collect();
            Ok::<_, minijinja::Error>(JValue::from(Serde(hits)))
        });
        Engine { env, compiled: RefCell::new(HashMap::new()) }
    }

    /// Render `source` (named `name` in errors) with `context` under `limits`.
    pub fn render(&self, name: &str, source: &str, context: &Json, limits: Limits) -> Result<String> {
        let mut compiled = self.compiled.borrow_mut();
        if compiled.get(name).is_none_or(|c| c.source != source || c.fuel != limits.fuel) {
            let mut env = self.env.clone();
            env.set_fuel(Some(limits.fuel));
            env.add_template_owned(name.to_string(), source.to_string()).map_err(|e| template_error(&e, source))?;
            compiled.insert(name.to_string(), Compiled { source: source.to_string(), fuel: limits.fuel, env });
        }
        let template = compiled[name].env.get_template(name).map_err(|e| template_error(&e, source))?;
        let mut out = Limited { buf: Vec::new(), max: limits.max_output, exceeded: false };
        let rendered = template.render_captured_to(JValue::from(Serde(context)), &mut out);
        if out.exceeded {
            return Err(Error::new(
                ErrorKind::Config,
                format!("template `{name}` writes more than {} bytes", limits.max_output),
            )
            .with_hint(format!(
                "{} reached its output limit: a loop that never ends, or raise `{}` ({})",
                limits.entry, limits.output_setting, limits.max_output
            )));
        }
        rendered.map_err(|e| match e.kind() {
            JErrorKind::OutOfFuel => template_error(&e, source).with_hint(format!(
                "{} used all its fuel: a loop that never ends, or raise `{}` ({})",
                limits.entry, limits.fuel_setting, limits.fuel
            )),
            _ => template_error(&e, source),
        })?;
        String::from_utf8(out.buf)
            .map_err(|_| Error::new(ErrorKind::Config, format!("template `{name}` wrote invalid UTF-8")))
    }
}

/// Whether a string written into a template would start a document of its own: a line after
/// a line break that is a document marker (`---`, `...`). An Application parameter such as
/// `${ARGOCD_ENV_TEAM}` written unquoted could otherwise add objects (a ClusterRoleBinding) to
/// the render.
fn starts_a_document(s: &str) -> bool {
    s.split(['\n', '\r']).skip(1).any(|line| {
        (line.starts_with("---") || line.starts_with("..."))
            && line[3..].chars().next().is_none_or(|c| c == ' ' || c == '\t')
    })
}

/// A writer that refuses to grow past `max` bytes.
struct Limited {
    buf: Vec<u8>,
    max: usize,
    exceeded: bool,
}

impl io::Write for Limited {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.max {
            self.exceeded = true;
            return Err(io::Error::other("output limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A minijinja error as a postwire error: `template `pdb` line 3: undefined value (in
/// `object.spec.replica`)`, with the template's line and the offending expression.
pub fn template_error(e: &minijinja::Error, source: &str) -> Error {
    let name = e.name().unwrap_or("template");
    let mut message = format!("template `{name}`");
    if let Some(line) = e.line() {
        message.push_str(&format!(" line {line}"));
    }
    message.push_str(&format!(": {}", e.kind()));
    if let Some(detail) = e.detail() {
        message.push_str(&format!(": {detail}"));
    }
    if let Some(expr) = e.range().and_then(|r| source.get(r)).filter(|s| !s.trim().is_empty()) {
        message.push_str(&format!(" (in `{}`)", expr.trim()));
    } else if let Some(line) = e.line().and_then(|l| source.lines().nth(l.saturating_sub(1))) {
        message.push_str(&format!(" (at `{}`)", line.trim()));
    }
    let hint = match e.kind() {
        JErrorKind::OutOfFuel => Some("the template runs too long: a loop that never ends, or raise `fuel`"),
        JErrorKind::UndefinedError => {
            Some("a misspelt name, or a field the object lacks: use `x.y | default(...)` or `x.y is defined`")
        }
        JErrorKind::SyntaxError => Some("see https://docs.rs/minijinja for the template syntax"),
        _ => None,
    };
    let err = Error::new(ErrorKind::Config, message);
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// A minijinja value as JSON (undefined and none are null).
pub fn json_of(v: &JValue) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// `to_yaml`: block YAML for mappings and sequences, flow for scalars; no trailing line break.
pub fn to_yaml(v: &JValue) -> std::result::Result<String, minijinja::Error> {
    let value = Value::from_json(&json_of(v));
    let lines = match &value {
        Value::Map(entries) if !entries.is_empty() => emit::block_entries(entries, 0, 2),
        Value::Seq(items) if !items.is_empty() => items.iter().flat_map(|i| emit::block_item(i, 0, 2)).collect(),
        other => vec![emit::flow(other)],
    };
    Ok(lines.join("\n"))
}

/// `to_json`: compact JSON.
pub fn to_json(v: &JValue) -> std::result::Result<String, minijinja::Error> {
    serde_json::to_string(&json_of(v)).map_err(|e| fail(format!("cannot write JSON: {e}")))
}

/// `b64encode`.
pub fn b64encode(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// `b64decode`: the text must be base64 of UTF-8 text.
pub fn b64decode(s: &str) -> std::result::Result<String, minijinja::Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim().as_bytes())
        .map_err(|e| fail(format!("`{s}` is not base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| fail(format!("`{s}` decodes to bytes that are not UTF-8 text")))
}

/// `quote`: the value's text as a double-quoted string.
pub fn quote(v: &JValue) -> String {
    let text = match v.as_str() {
        Some(s) => s.to_string(),
        None => v.to_string(),
    };
    emit::double_quoted(&text)
}

/// `nindent(n)`: a line break, then every line indented by `n` spaces.
pub fn nindent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    let mut out = String::new();
    for line in s.lines() {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
        }
        out.push_str(line);
    }
    out
}

fn quantity_arg(v: &JValue) -> std::result::Result<String, minijinja::Error> {
    match json_of(v) {
        Json::String(s) => Ok(s),
        Json::Number(n) => Ok(n.to_string()),
        other => Err(fail(format!("{other} is not a quantity"))),
    }
}

/// A Kubernetes quantity (`512Mi`, `500m`, `1.5G`, `2e3`, `1Ki`) as a number.
pub fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E').unwrap_or(s.len());
    // `1e3` is an exponent, `1E` is exa: an `E` with no digits after it is the suffix.
    let (number, suffix) = match s[..split].find(['e', 'E']) {
        Some(i) if s[i + 1..split].is_empty() => (&s[..i], &s[i..]),
        _ => (&s[..split], &s[split..]),
    };
    // Binary suffixes multiply; decimal ones scale by a power of ten (dividing for the small
    // ones, so `100n` is exactly 1e-7).
    let (factor, exp10) = match suffix {
        "" => (1.0, 0),
        "Ki" => (1024f64, 0),
        "Mi" => (1024f64.powi(2), 0),
        "Gi" => (1024f64.powi(3), 0),
        "Ti" => (1024f64.powi(4), 0),
        "Pi" => (1024f64.powi(5), 0),
        "Ei" => (1024f64.powi(6), 0),
        "n" => (1.0, -9),
        "u" => (1.0, -6),
        "m" => (1.0, -3),
        "k" => (1.0, 3),
        "M" => (1.0, 6),
        "G" => (1.0, 9),
        "T" => (1.0, 12),
        "P" => (1.0, 15),
        "E" => (1.0, 18),
        _ => return None,
    };
    let ok = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-' | b'e' | b'E'))
        && number.bytes().any(|b| b.is_ascii_digit());
    let n: f64 = if ok { number.parse().ok()? } else { return None };
    let scaled = if exp10 < 0 { n / 10f64.powi(-exp10) } else { n * factor * 10f64.powi(exp10) };
    Some(scaled).filter(|v| v.is_finite())
}

fn quantity_error(s: &str) -> minijinja::Error {
    fail(format!("`{s}` is not a Kubernetes quantity (e.g. 512Mi, 1.5G, 500m, 2)"))
}

/// `bytes`: a memory quantity in bytes, rounded up.
pub fn bytes(s: &str) -> std::result::Result<JValue, minijinja::Error> {
    let v = parse_quantity(s).ok_or_else(|| quantity_error(s))?;
    Ok(JValue::from(v.ceil() as i64))
}

/// `cores`: a CPU quantity in cores.
pub fn cores(s: &str) -> std::result::Result<JValue, minijinja::Error> {
    parse_quantity(s).map(JValue::from).ok_or_else(|| quantity_error(s))
}

/// `quantity`: an integer when the value is whole, else a float.
pub fn quantity_value(s: &str) -> std::result::Result<JValue, minijinja::Error> {
    let v = parse_quantity(s).ok_or_else(|| quantity_error(s))?;
    Ok(if v.fract() == 0.0 && v.abs() < 9.0e15 { JValue::from(v as i64) } else { JValue::from(v) })
}

/// `dns_label` / `dns_subdomain`: lower case, runs of other characters become one `-`, ends
/// alphanumeric, at most 63 (253) characters. An input with no letter or digit is an error.
pub fn dns_name(s: &str, subdomain: bool) -> std::result::Result<String, minijinja::Error> {
    let max = if subdomain { 253 } else { 63 };
    let sanitize_label = |label: &str| -> String {
        let mut out = String::new();
        for c in label.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                out.push(c);
            } else if !out.ends_with('-') {
                out.push('-');
            }
        }
        out.trim_matches('-').to_string()
    };
    let name = if subdomain {
        s.split('.').map(sanitize_label).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(".")
    } else {
        sanitize_label(s)
    };
    let cut: String = name.chars().take(max).collect();
    let cut = cut.trim_end_matches(['-', '.']).to_string();
    if cut.is_empty() {
        return Err(fail(format!("`{s}` has no letter or digit to make a DNS name of")));
    }
    Ok(cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn engine() -> Engine {
        let resources = vec![
            json!({"kind": "Service", "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}}}),
            json!({"kind": "Service", "metadata": {"name": "db", "labels": {"app": "db"}}}),
        ];
        Engine::new(Arc::new(resources))
    }

    fn render(source: &str, context: Json) -> Result<String> {
        engine().render("t", source, &context, Limits::default())
    }

    /// `resources` is turned into template values as it is read; every way of reading a list
    /// must see what a list of the same objects passed as a value shows.
    #[test]
    fn resources_read_as_the_list_they_hold() {
        let list = json!([
            {"kind": "Service", "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}}},
            {"kind": "Service", "metadata": {"name": "db", "labels": {"app": "db"}}},
        ]);
        let reads = [
            "{{ X | length }}",
            "{{ X[0].metadata.name }} {{ X[-1].metadata.name }} {{ X[5] is undefined }}",
            "{% for o in X %}{{ loop.index }}:{{ o.kind }}/{{ o.metadata.name }} {% endfor %}",
            "{{ X | tojson }}",
            "{{ X }}",
            "{{ X[1:] | map(attribute='metadata.name') | join(',') }}",
            "{{ X | selectattr('metadata.namespace', 'defined') | list | length }}",
            "{{ X is sequence }} {{ X == X }} {{ X | first | tojson }} {{ X | last | tojson }}",
            "{{ X | reverse | map(attribute='metadata.name') | join(',') }} {{ X | sort(attribute='metadata.name') | first | tojson }}",
        ];
        for read in reads {
            let lazy = render(&read.replace('X', "resources"), json!({})).unwrap();
            let listed = render(&read.replace('X', "listed"), json!({"listed": list})).unwrap();
            assert_eq!(lazy, listed, "{read}");
        }
        // Read twice in one render, and again in the next: the same values.
        let engine = engine();
        let twice = "{{ resources[0] | tojson }}{{ resources[0] | tojson }}";
        let first = engine.render("t", twice, &json!({}), Limits::default()).unwrap();
        assert_eq!(first, engine.render("t", twice, &json!({}), Limits::default()).unwrap());
    }

    /// A template is compiled once per name; a new source or fuel under the same name is
    /// compiled again, not served from the old one.
    #[test]
    fn a_changed_template_is_not_the_compiled_one() {
        let engine = engine();
        let limits = Limits::default();
        assert_eq!(engine.render("t", "a{{ 1 }}", &json!({}), limits.clone()).unwrap(), "a1");
        assert_eq!(engine.render("t", "b{{ 2 }}", &json!({}), limits.clone()).unwrap(), "b2");
        let loop_source = "{% for i in range(1000) %}x{% endfor %}";
        assert!(engine.render("t", loop_source, &json!({}), limits.clone()).is_ok());
        let starved = Limits { fuel: 10, ..limits.clone() };
        assert!(engine.render("t", loop_source, &json!({}), starved).is_err());
        assert!(engine.render("t", loop_source, &json!({}), limits).is_ok());
        // Fuel is each render's own, not spent across the renders of one compiled template
        // (minijinja 3.1.0 `src/vm/state.rs:127`: a `FuelTracker` per render).
        let small = Limits { fuel: 10_000, ..Limits::default() };
        let short = "{% for i in range(100) %}x{% endfor %}";
        assert!(engine.render("u", short, &json!({}), Limits { fuel: 100, ..small.clone() }).is_err());
        for _ in 0..200 {
            engine.render("u", short, &json!({}), small.clone()).unwrap();
        }
    }

    #[test]
    fn every_filter() {
        let cases = [
            ("{{ v | to_yaml }}", json!({"a": 1, "b": ["on", 0.5], "c": {}}), "a: 1\nb:\n  - \"on\"\n  - 0.5\nc: {}"),
            ("{{ v | to_yaml }}", json!("on"), "\"on\""),
            ("{{ v | to_json }}", json!({"a": [1, "x"]}), "{\"a\":[1,\"x\"]}"),
            ("{{ v | tojson }}", json!({"a": 1}), "{\"a\": 1}"),
            ("{{ v | b64encode }}", json!("hello"), "aGVsbG8="),
            ("{{ v | b64decode }}", json!("aGVsbG8="), "hello"),
            ("{{ v | sha256 }}", json!("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ("{{ v | quote }}", json!("on"), "\"on\""),
            ("{{ v | quote }}", json!(3), "\"3\""),
            ("{{ v | indent(2) }}", json!("a\nb"), "a\n  b"),
            ("x:{{ v | nindent(2) }}", json!("a: 1\nb: 2"), "x:\n  a: 1\n  b: 2"),
            ("{{ v | bytes }}", json!("512Mi"), "536870912"),
            ("{{ v | bytes }}", json!("1.5k"), "1500"),
            ("{{ v | bytes }}", json!("1e3"), "1000"),
            ("{{ v | bytes }}", json!(2048), "2048"),
            ("{{ v | cores }}", json!("500m"), "0.5"),
            ("{{ v | cores }}", json!("2"), "2.0"),
            ("{{ v | quantity }}", json!("1Gi"), "1073741824"),
            ("{{ v | quantity }}", json!("250m"), "0.25"),
            ("{{ v | label_value }}", json!("-Team: Payments/EU_1."), "Team--Payments-EU_1"),
            ("{{ v | label_value }}", json!("x".repeat(70)), &"x".repeat(63)),
            ("{{ v | dns_label }}", json!("My_App.v2"), "my-app-v2"),
            ("{{ v | dns_subdomain }}", json!("My_App.v2..Example"), "my-app.v2.example"),
        ];
        for (source, v, want) in cases {
            assert_eq!(render(source, json!({"v": v})).unwrap(), want, "{source} {v}");
        }
    }

    #[test]
    fn filter_errors_name_the_problem() {
        for (source, v, want) in [
            ("{{ v | b64decode }}", json!("!!"), "is not base64"),
            ("{{ v | bytes }}", json!("12 apples"), "not a Kubernetes quantity"),
            ("{{ v | cores }}", json!("1Xi"), "not a Kubernetes quantity"),
            ("{{ v | dns_label }}", json!("__"), "no letter or digit"),
        ] {
            let err = render(source, json!({"v": v})).unwrap_err().to_string();
            assert!(err.contains(want) && err.contains("template `t` line 1"), "{source}: {err}");
        }
    }

    #[test]
    fn quantities() {
        for (q, want) in [
            ("1Ki", Some(1024.0)),
            ("1E", Some(1e18)),
            ("1Ei", Some(1024f64.powi(6))),
            ("100n", Some(1e-7)),
            ("3u", Some(3e-6)),
            ("-2", Some(-2.0)),
            ("1.5e2", Some(150.0)),
            ("", None),
            ("Mi", None),
            ("1MB", None),
        ] {
            assert_eq!(parse_quantity(q), want, "{q}");
        }
    }

    #[test]
    fn resources_can_be_queried() {
        let out = render(
            "{{ find('Service', 'web').metadata.namespace }} {{ find('Service', 'x') is none }} \
             {{ select(kind='Service') | length }} {{ (select(labels={'app': 'db'}) | first).metadata.name }} \
             {{ find('Service', 'web', namespace='other') is none }}",
            json!({}),
        )
        .unwrap();
        assert_eq!(out, "shop True 2 db True");
    }

    #[test]
    fn errors_name_template_line_and_expression() {
        let err = render("a\n{{ object.spec.replica }}", json!({"object": {"spec": {}}})).unwrap_err().to_string();
        assert!(err.contains("template `t` line 2: undefined value") && err.contains("object.spec.replica"), "{err}");
        let err = render("a\nb\n{% for x in %}", json!({})).unwrap_err().to_string();
        assert!(err.contains("template `t` line 3: syntax error"), "{err}");
    }

    #[test]
    fn runaway_loops_run_out_of_fuel_or_output() {
        let limits = Limits { fuel: 10_000, max_output: 1 << 20, ..Limits::default() };
        let err = engine()
            .render(
                "t",
                "{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}",
                &json!({}),
                limits,
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("out of fuel") && err.contains("fuel"), "{err}");
        let limits = Limits { fuel: 10_000_000, max_output: 1000, ..Limits::default() };
        let err =
            engine().render("t", "{% for i in range(10000) %}xxxxxxxx{% endfor %}", &json!({}), limits).unwrap_err();
        assert!(err.to_string().contains("more than 1000 bytes"), "{err}");
    }

    #[test]
    fn values_that_would_start_a_document_are_refused_unless_quoted() {
        let team = "pay\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n";
        let err = render("team: {{ values.team }}", json!({"values": {"team": team}})).unwrap_err().to_string();
        assert!(err.contains("starts a YAML document"), "{err}");
        let err = render("team: {{ values.team }}", json!({"values": {"team": "a\r..."}})).unwrap_err();
        assert!(err.to_string().contains("starts a YAML document"), "{err}");
        for safe in ["team: {{ values.team | tojson }}", "team: {{ values.team | quote }}"] {
            let out = render(safe, json!({"values": {"team": team}})).unwrap();
            assert!(!out.contains("\n---"), "{safe}: {out}");
        }
        // Multi-line values without document markers, and indented markers, are fine.
        for fine in ["a\nb", "a\n  ---\n", "a\n----\n", "---x"] {
            assert!(render("{{ v }}", json!({"v": fine})).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn no_files_environment_or_includes() {
        for source in ["{% include 'x' %}", "{{ env('HOME') }}", "{% import 'x' as y %}"] {
            assert!(render(source, json!({})).is_err(), "{source}");
        }
    }
}
