//! The parameters of the Argo CD config-management plugin (`argocd-cmp/plugin.yaml`) and the
//! variables a platform config may use, read from the environment argocd-cmp-server gives
//! `postwire argocd generate`. Pure, so the host and the fuzz target (`fuzz/fuzz_targets/argocd.rs`)
//! share it.
//!
//! The parameters are read from `ARGOCD_APP_PARAMETERS`, the JSON Argo CD builds (map keys
//! intact); when it is absent, strings and arrays from `PARAM_<NAME>` / `PARAM_<NAME>_<i>`. Map
//! keys cannot be read back from `PARAM_<NAME>_<KEY>` (Argo CD upper-cases them and turns `.`
//! into `_`).

use std::collections::BTreeMap;

/// The parameters plugin.yaml announces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// `values-files`.
    pub values_files: Vec<String>,
    /// `helm-parameters`, in key order.
    pub helm_parameters: Vec<(String, String)>,
    /// `config`.
    pub config: Option<String>,
    /// `set`, in key order.
    pub set: Vec<(String, String)>,
}

/// The parameter names, as announced.
pub const PARAMETERS: [&str; 4] = ["values-files", "helm-parameters", "config", "set"];

/// Argo CD's escaping of parameter names and map keys in `PARAM_*` variables: upper-case,
/// then every character outside `[A-Z0-9_]` becomes `_`.
pub fn escaped(name: &str) -> String {
    name.to_uppercase()
        .chars()
        .map(|c| if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' { c } else { '_' })
        .collect()
}

/// Read the parameters from the environment.
pub fn parameters(env: &BTreeMap<String, String>) -> Result<Params, String> {
    let json =
        env.get("ARGOCD_APP_PARAMETERS").map(String::as_str).filter(|j| !j.trim().is_empty() && j.trim() != "null");
    let Some(json) = json else {
        return params_from_param_vars(env);
    };
    let list: Vec<serde_json::Value> =
        serde_json::from_str(json).map_err(|e| bad(format!("not the JSON array Argo CD writes: {e}")))?;
    let mut out = Params::default();
    let mut seen = Vec::new();
    for entry in &list {
        let name =
            entry.get("name").and_then(|n| n.as_str()).ok_or_else(|| bad(format!("an entry has no name: {entry}")))?;
        if seen.contains(&name) {
            return Err(bad(format!("parameter `{name}` is given twice")));
        }
        seen.push(name);
        read_parameter(&mut out, &Parameter { name, entry })?;
    }
    Ok(out)
}

/// An error about `ARGOCD_APP_PARAMETERS`.
fn bad(message: String) -> String {
    format!("ARGOCD_APP_PARAMETERS: {message}")
}

/// One entry of `ARGOCD_APP_PARAMETERS`: `{name, string | array | map}`.
struct Parameter<'a> {
    name: &'a str,
    entry: &'a serde_json::Value,
}

impl Parameter<'_> {
    fn field(&self, key: &str) -> Option<&serde_json::Value> {
        self.entry.get(key).filter(|v| !v.is_null())
    }

    /// Its value when it is of the collection type `want` ("string", "array" or "map") and has
    /// no other; Argo CD sends the one that `collectionType` in plugin.yaml names.
    fn only(&self, want: &str, article: &str) -> Result<Option<&serde_json::Value>, String> {
        let string = self.entry.get("string").and_then(|s| s.as_str()).is_some();
        let present =
            [("string", string), ("array", self.field("array").is_some()), ("map", self.field("map").is_some())];
        let others = present.iter().any(|&(kind, there)| kind != want && there);
        let mine = present.iter().any(|&(kind, there)| kind == want && there);
        // A string parameter may be absent (empty); the collections must be there.
        if others || (!mine && want != "string") {
            return Err(bad(format!(
                "parameter `{}` must be {article} {want} (collectionType in plugin.yaml), got {}",
                self.name, self.entry
            )));
        }
        Ok(if want == "string" { self.entry.get("string") } else { self.field(want) })
    }

    fn strings(&self) -> Result<Vec<String>, String> {
        let name = self.name;
        let array = self.only("array", "an")?.expect("checked");
        array
            .as_array()
            .ok_or_else(|| bad(format!("parameter `{name}`: array expected")))?
            .iter()
            .map(|s| s.as_str().map(String::from).ok_or_else(|| bad(format!("parameter `{name}`: strings expected"))))
            .collect()
    }

    fn pairs(&self) -> Result<Vec<(String, String)>, String> {
        let name = self.name;
        let map = self.only("map", "a")?.expect("checked");
        let map = map.as_object().ok_or_else(|| bad(format!("parameter `{name}`: map expected")))?;
        let mut pairs: Vec<(String, String)> = map
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_string()))
                    .ok_or_else(|| bad(format!("parameter `{name}`: `{k}` is not a string")))
            })
            .collect::<Result<_, String>>()?;
        pairs.sort();
        Ok(pairs)
    }
}

/// Put one parameter into `out`.
fn read_parameter(out: &mut Params, parameter: &Parameter<'_>) -> Result<(), String> {
    match parameter.name {
        "values-files" => out.values_files = parameter.strings()?,
        "helm-parameters" => out.helm_parameters = parameter.pairs()?,
        "config" => {
            let string = parameter.only("string", "a")?.and_then(|s| s.as_str());
            out.config = string.filter(|s| !s.is_empty()).map(String::from);
        }
        "set" => {
            out.set = parameter.pairs()?;
            if let Some((key, _)) = out.set.iter().find(|(k, _)| platform_only(k)) {
                return Err(bad(format!(
                    "parameter `set`: `{key}` is the platform's to set (an Application's parameters are not)"
                )));
            }
        }
        other => {
            return Err(bad(format!(
                "unknown parameter `{other}`; postwire's parameters are {}",
                PARAMETERS.map(|p| format!("`{p}`")).join(", ")
            )))
        }
    }
    Ok(())
}

/// Strings and arrays from `PARAM_*` (what Argo CD sets beside the JSON).
fn params_from_param_vars(env: &BTreeMap<String, String>) -> Result<Params, String> {
    let mut out = Params {
        config: env.get(&format!("PARAM_{}", escaped("config"))).filter(|s| !s.is_empty()).cloned(),
        ..Params::default()
    };
    let base = format!("PARAM_{}", escaped("values-files"));
    let mut i = 0;
    while let Some(file) = env.get(&format!("{base}_{i}")) {
        out.values_files.push(file.clone());
        i += 1;
    }
    for map in ["helm-parameters", "set"] {
        let prefix = format!("PARAM_{}_", escaped(map));
        if let Some(var) = env.keys().find(|k| k.starts_with(&prefix)) {
            return Err(format!(
                "{var} is set but ARGOCD_APP_PARAMETERS is not: the keys of map parameter `{map}` cannot be read \
                 back from PARAM_* names (Argo CD upper-cases them and replaces `.`); set ARGOCD_APP_PARAMETERS"
            ));
        }
    }
    Ok(out)
}

/// The variables a platform config may use as `${NAME}`: the build environment Argo CD gives
/// plugins, the application's `ARGOCD_ENV_*` variables, and `POSTWIRE_CHECKSUM_KEY` (the
/// runner's key for `checksum.secretKey`; templates see only `ARGOCD_*`).
pub fn context_env(vars: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    vars.into_iter()
        .filter(|(k, _)| {
            (k.starts_with("ARGOCD_APP_") && k != "ARGOCD_APP_PARAMETERS")
                || k.starts_with("ARGOCD_ENV_")
                || k == "KUBE_VERSION"
                || k == "KUBE_API_VERSIONS"
                || k == "POSTWIRE_CHECKSUM_KEY"
        })
        .collect()
}

/// Config paths only the platform may set: an Application's `set` parameter is written by the
/// Application's author, who may not raise the platform's caps or pick the checksum key.
fn platform_only(path: &str) -> bool {
    let first = path.split(['.', '[']).next().unwrap_or_default();
    first == "platform" || path == "checksum.secretKey" || path.starts_with("checksum.secretKey[")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_cannot_set_the_platforms_keys() {
        for key in ["platform.templateFuel", "platform", "checksum.secretKey"] {
            let json = format!(r#"[{{"name":"set","map":{{"{key}":"1"}}}}]"#);
            let env = BTreeMap::from([("ARGOCD_APP_PARAMETERS".to_string(), json)]);
            let err = parameters(&env).unwrap_err();
            assert!(err.contains(&format!("`{key}` is the platform's to set")), "{err}");
        }
        let env = BTreeMap::from([(
            "ARGOCD_APP_PARAMETERS".to_string(),
            r#"[{"name":"set","map":{"checksum.mode":"aggregate","platformx":"1"}}]"#.to_string(),
        )]);
        assert_eq!(parameters(&env).unwrap().set.len(), 2);
    }
}
