//! A strict check of config blocks users write in Istio's or Argo Rollouts' own terms (a
//! DestinationRule `trafficPolicy`, a VirtualService HTTP route's `retries`, `headers`,
//! `corsPolicy`, a Rollout `strategy`, an analysis `job`) against the CRDs' OpenAPI schemas, so a typo or a bad
//! value is a config error naming the field, not an object the API server rejects later.
//!
//! `schemas.json` holds the relevant sub-schemas of `../shared/schemas/crds` (Istio 1.x
//! `crd-all.gen.yaml` v1, Argo Rollouts v1alpha1) without descriptions; `extract-schemas.py`
//! beside it regenerates the file. The check covers the OpenAPI subset those schemas use: types,
//! `properties` (a field the schema does not declare is an error), `additionalProperties`,
//! `required`, `enum`, `items`, `minimum`/`maximum`, `maxItems`, int32 ranges, `oneOf`/`anyOf`/
//! `allOf`/`not`, `nullable`, `x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`
//! and the one CEL rule they carry, `duration(self) >= duration('1ms')`.

use std::sync::OnceLock;

use serde_json::Value as Json;

const SCHEMAS: &str = include_str!("schemas.json");

fn schemas() -> &'static Json {
    static PARSED: OnceLock<Json> = OnceLock::new();
    PARSED.get_or_init(|| serde_json::from_str(SCHEMAS).expect("schemas.json is JSON"))
}

/// The schemas available to [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// DestinationRule `spec.trafficPolicy` (networking.istio.io/v1).
    TrafficPolicy,
    /// One VirtualService `spec.http[]` item (networking.istio.io/v1).
    HttpRoute,
    /// Rollout `spec.strategy` (argoproj.io/v1alpha1).
    Strategy,
    /// AnalysisTemplate `spec.metrics[].provider.job` (argoproj.io/v1alpha1).
    AnalysisJob,
}

impl Which {
    fn key(self) -> &'static str {
        match self {
            Which::TrafficPolicy => "trafficPolicy",
            Which::HttpRoute => "httpRoute",
            Which::Strategy => "strategy",
            Which::AnalysisJob => "analysisJob",
        }
    }
}

/// Check `value` against one schema; the error names the field path inside `value`.
pub fn check(which: Which, value: &Json) -> Result<(), String> {
    let schema = &schemas()[which.key()];
    validate(schema, value, "")
}

/// Check one field of a schema's top-level object (`retries` of an HTTP route).
pub fn check_field(which: Which, field: &str, value: &Json) -> Result<(), String> {
    let schema = &schemas()[which.key()]["properties"][field];
    if schema.is_null() {
        return Err(format!("`{field}` is not a field of {}", which.key()));
    }
    validate(schema, value, "")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn at(path: &str, message: String) -> String {
    if path.is_empty() {
        message
    } else {
        format!("{path}: {message}")
    }
}

fn describe(value: &Json) -> String {
    match value {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("`{b}`"),
        Json::Number(n) => format!("`{n}`"),
        Json::String(s) => format!("`{s}`"),
        Json::Array(_) => "a list".into(),
        Json::Object(_) => "a mapping".into(),
    }
}

fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    candidates
        .map(|c| (strsim::jaro_winkler(&word.to_ascii_lowercase(), &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

fn quoted_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

/// Whether `s` is a Go / protobuf duration (`1h2m3.5s`, `250ms`, `1us`) of at least 1ms, as
/// Istio's `duration(self) >= duration('1ms')` rules require.
pub fn is_duration(text: &str) -> bool {
    duration_nanos(text).is_some_and(|n| n >= 1_000_000)
}

/// A duration's length in nanoseconds.
pub fn duration_nanos(s: &str) -> Option<u128> {
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if digits == 0 {
            return None;
        }
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = if rest.starts_with("µs") {
            "µs".len()
        } else {
            rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count()
        };
        let unit = rest.get(..unit_len)?;
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    Some(total as u128)
}

fn type_ok(kind: &str, value: &Json) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => true,
    }
}

/// Check `value` (at `path` inside the checked block) against `schema`: the first problem
/// found, in the order below, is the error.
fn validate(schema: &Json, value: &Json, path: &str) -> Result<(), String> {
    if value.is_null() && schema["nullable"] == Json::Bool(true) {
        return Ok(());
    }
    check_type(schema, value, path)?;
    check_enum(schema, value, path)?;
    check_range(schema, value, path)?;
    check_rules(schema, value, path)?;
    if let Json::Object(map) = value {
        check_fields(schema, map, path)?;
    }
    if let Json::Array(items) = value {
        check_items(schema, items, path)?;
    }
    check_all_any_not(schema, value, path)?;
    check_one_of(schema, value, path)
}

/// `type`, or `x-kubernetes-int-or-string`.
fn check_type(schema: &Json, value: &Json, path: &str) -> Result<(), String> {
    if schema["x-kubernetes-int-or-string"] == Json::Bool(true) {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            return Err(at(path, format!("expected an integer or a string, found {}", describe(value))));
        }
    } else if let Some(kind) = schema["type"].as_str() {
        if !type_ok(kind, value) {
            let want = match kind {
                "object" => "a mapping",
                "array" => "a list",
                "integer" => "an integer",
                "number" => "a number",
                "boolean" => "a boolean (true or false)",
                _ => "a string",
            };
            return Err(at(path, format!("expected {want}, found {}", describe(value))));
        }
    }
    Ok(())
}

/// `enum`, naming the closest allowed value.
fn check_enum(schema: &Json, value: &Json, path: &str) -> Result<(), String> {
    let Some(options) = schema["enum"].as_array() else { return Ok(()) };
    if options.contains(value) {
        return Ok(());
    }
    let names: Vec<&str> = options.iter().filter_map(Json::as_str).collect();
    let hint = value.as_str().map(|s| closest(s, names.iter().copied())).unwrap_or_default();
    Err(at(
        path,
        format!("unknown value {}, expected one of {}{hint}", describe(value), quoted_list(names.into_iter())),
    ))
}

/// int32 ranges, `minimum` and `maximum`.
fn check_range(schema: &Json, value: &Json, path: &str) -> Result<(), String> {
    let Some(number) = value.as_f64() else { return Ok(()) };
    if schema["format"] == "int32" && (number < i32::MIN as f64 || number > i32::MAX as f64) {
        return Err(at(path, format!("{number} is out of range for a 32-bit integer")));
    }
    if let Some(min) = schema["minimum"].as_f64() {
        if number < min {
            return Err(at(path, format!("{number} is less than the minimum {min}")));
        }
    }
    if let Some(max) = schema["maximum"].as_f64() {
        if number > max {
            return Err(at(path, format!("{number} is more than the maximum {max}")));
        }
    }
    Ok(())
}

/// The one CEL rule the schemas carry, `duration(self) >= duration('1ms')`.
fn check_rules(schema: &Json, value: &Json, path: &str) -> Result<(), String> {
    for rule in schema["x-kubernetes-validations"].as_array().into_iter().flatten() {
        if rule["rule"].as_str().is_some_and(|r| r.contains("duration(self)")) {
            if let Some(s) = value.as_str() {
                if !is_duration(s) {
                    return Err(at(
                        path,
                        format!("`{s}` is not a duration of at least 1ms (write e.g. `500ms`, `2s`, `1m30s`)"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A mapping's `required` fields, then each field against `properties` or
/// `additionalProperties`; a field the schema does not declare is an error.
fn check_fields(schema: &Json, map: &serde_json::Map<String, Json>, path: &str) -> Result<(), String> {
    for field in schema["required"].as_array().into_iter().flatten().filter_map(Json::as_str) {
        if !map.contains_key(field) {
            return Err(at(path, format!("missing required field `{field}`")));
        }
    }
    if schema["type"] != "object" {
        return Ok(());
    }
    let props = schema["properties"].as_object();
    let additional = &schema["additionalProperties"];
    let preserve = schema["x-kubernetes-preserve-unknown-fields"] == Json::Bool(true);
    for (key, value) in map {
        let at_key = join(path, key);
        if let Some(sub) = props.and_then(|at_key| at_key.get(key)) {
            validate(sub, value, &at_key)?;
        } else if additional.is_object() {
            validate(additional, value, &at_key)?;
        } else if additional != &Json::Bool(true) && !preserve {
            let names = props.map(|at_key| at_key.keys().map(String::as_str).collect::<Vec<_>>()).unwrap_or_default();
            return Err(at(
                path,
                format!(
                    "unknown field `{key}`, expected one of {}{}",
                    quoted_list(names.iter().copied()),
                    closest(key, names.iter().copied())
                ),
            ));
        }
    }
    Ok(())
}

/// A list's `maxItems`, then each item against `items`.
fn check_items(schema: &Json, items: &[Json], path: &str) -> Result<(), String> {
    if let Some(max) = schema["maxItems"].as_u64() {
        if items.len() as u64 > max {
            return Err(at(path, format!("at most {max} items are allowed, found {}", items.len())));
        }
    }
    if schema["items"].is_object() {
        for (i, item) in items.iter().enumerate() {
            validate(&schema["items"], item, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

/// `allOf`, `anyOf` and `not`.
fn check_all_any_not(schema: &Json, value: &Json, path: &str) -> Result<(), String> {
    for form in schema["allOf"].as_array().into_iter().flatten() {
        validate(form, value, path)?;
    }
    if let Some(any) = schema["anyOf"].as_array() {
        if !any.iter().any(|form| validate(form, value, path).is_ok()) {
            return Err(at(path, format!("{} matches none of the allowed forms", describe(value))));
        }
    }
    if let Some(not) = schema.get("not") {
        if validate(not, value, path).is_ok() {
            return Err(at(path, "has a combination of fields that is not allowed".into()));
        }
    }
    Ok(())
}

/// `oneOf`: exactly one form must match.
fn check_one_of(schema: &Json, value: &Json, path: &str) -> Result<(), String> {
    let Some(one) = schema["oneOf"].as_array() else { return Ok(()) };
    if one.iter().filter(|form| validate(form, value, path).is_ok()).count() == 1 {
        return Ok(());
    }
    // Istio writes "at most one of a, b, c" as oneOf: [not anyOf required, required a, …].
    let fields: Vec<&str> = one
        .iter()
        .filter_map(|form| form["required"].as_array())
        .filter_map(|r| r.first().and_then(Json::as_str))
        .collect();
    let set: Vec<&str> =
        fields.iter().copied().filter(|field| value.as_object().is_some_and(|m| m.contains_key(*field))).collect();
    if set.len() > 1 {
        return Err(at(
            path,
            format!(
                "only one of {} may be set, found {}",
                quoted_list(fields.into_iter()),
                quoted_list(set.into_iter())
            ),
        ));
    }
    Err(at(path, format!("{} matches none of the allowed forms", describe(value))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn traffic_policies_are_checked_field_by_field() {
        let ok = json!({"loadBalancer": {"simple": "LEAST_REQUEST"}, "connectionPool": {"tcp": {"maxConnections": 100, "connectTimeout": "2s"}},
                        "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s"}, "tls": {"mode": "ISTIO_MUTUAL"}});
        check(Which::TrafficPolicy, &ok).unwrap();
        let cases = [
            (json!({"loadBalancer": {"simple": "LEAST_REQUESTS"}}), "loadBalancer.simple: unknown value `LEAST_REQUESTS`, expected one of `UNSPECIFIED`, `LEAST_CONN`, `RANDOM`, `PASSTHROUGH`, `ROUND_ROBIN`, `LEAST_REQUEST` (did you mean `LEAST_REQUEST`?)"),
            (json!({"connectionPool": {"tcp": {"connectTimeout": "2 seconds"}}}), "connectionPool.tcp.connectTimeout: `2 seconds` is not a duration"),
            (json!({"connectionPool": {"tcp": {"maxConection": 1}}}), "connectionPool.tcp: unknown field `maxConection`"),
            (json!({"loadBalancer": {"simple": "RANDOM", "consistentHash": {"useSourceIp": true}}}), "loadBalancer: only one of"),
            (json!({"connectionPool": {"tcp": {"maxConnections": "many"}}}), "expected an integer, found `many`"),
        ];
        for (value, want) in cases {
            let err = check(Which::TrafficPolicy, &value).unwrap_err();
            assert!(err.starts_with(want) || err.contains(want), "{err}");
        }
    }

    #[test]
    fn durations_follow_go_syntax() {
        for ok in ["1ms", "2s", "1m30s", "1.5h", "1000us"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "2", "2 s", "1d", "0.5ms", "s"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }

    #[test]
    fn routes_and_strategies() {
        check_field(Which::HttpRoute, "retries", &json!({"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx"}))
            .unwrap();
        let err =
            check_field(Which::HttpRoute, "retries", &json!({"attempts": 3, "perTryTimeout": "soon"})).unwrap_err();
        assert!(err.starts_with("perTryTimeout: `soon`"), "{err}");
        check(Which::Strategy, &json!({"canary": {"steps": [{"setWeight": 5}, {"pause": {"duration": "1m"}}]}}))
            .unwrap();
        let err = check(Which::Strategy, &json!({"canary": {"steps": [{"setWieght": 5}]}})).unwrap_err();
        assert!(
            err.contains("canary.steps[0]: unknown field `setWieght`") && err.contains("did you mean `setWeight`"),
            "{err}"
        );
    }
}
