//! The pod-spec edits wirings share, written once: environment variables, volume mounts,
//! volumes, and labels or annotations set only where the chart has none.
//!
//! Like the Datadog admission controller's shared mutation helpers (DataDog/datadog-agent
//! `pkg/clusteragent/admission/mutate/common/common.go` at 4a0cd7d: `InjectEnv`,
//! `InjectVolume`, `containsVolumeMount`) every helper is idempotent and never overwrites what
//! the pod already has: a variable, mount or volume that is there by name stays as it is, so a
//! second run changes nothing. One clash policy for mounts: a different mount at the same path
//! is left alone with a warning, since a container with two mounts at one path is rejected.

use crate::edit::Value;
use crate::report::Level;
use crate::resource::Container;
use crate::workload::Workload;
use crate::yaml::{PathSeg, Tree};

use super::changes::Changes;

/// A read view of one workload's pod, for deciding what to add.
pub struct Pod<'a> {
    /// The document's tree.
    pub tree: &'a Tree,
    /// The workload.
    pub workload: &'a Workload,
}

/// Where a new environment variable goes in a container's `env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvAt {
    /// Before item `n` (the admission controllers put theirs first, so the application's own
    /// variables can refer to them with `$(NAME)`).
    Front(usize),
    /// After the last item.
    Back,
}

/// What a mapping already holds at a key that [`set_if_absent`] would write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing<'a> {
    /// Nothing: the value is planned.
    Absent,
    /// The same value: nothing to do.
    Same,
    /// Another value, kept.
    Other(&'a str),
}

impl<'a> Pod<'a> {
    /// A view of `workload` in `tree`.
    pub fn new(tree: &'a Tree, workload: &'a Workload) -> Self {
        Pod { tree, workload }
    }

    /// The names of a container's environment variables.
    pub fn env_names(&self, c: &Container) -> Vec<&'a str> {
        let tree = self.tree;
        tree.get(c.node, "env")
            .map(|e| tree.items(e).iter().filter_map(|&i| tree.str_at(i, &["name"])).collect())
            .unwrap_or_default()
    }

    /// A container's mounts as (name, mountPath).
    pub fn mounts(&self, c: &Container) -> Vec<(Option<&'a str>, Option<&'a str>)> {
        let tree = self.tree;
        tree.get(c.node, "volumeMounts")
            .map(|m| {
                tree.items(m).iter().map(|&i| (tree.str_at(i, &["name"]), tree.str_at(i, &["mountPath"]))).collect()
            })
            .unwrap_or_default()
    }

    /// The names of the pod's volumes.
    pub fn volume_names(&self) -> Vec<&'a str> {
        let tree = self.tree;
        self.workload
            .pod_spec
            .and_then(|s| tree.get(s, "volumes"))
            .map(|v| tree.items(v).iter().filter_map(|&i| tree.str_at(i, &["name"])).collect())
            .unwrap_or_default()
    }

    /// The scalar at `keys` under the pod template (`["metadata", "labels", "app"]`).
    pub fn template_scalar(&self, keys: &[&str]) -> Option<&'a str> {
        let template = self.workload.template?;
        self.tree.path(template, keys).and_then(|v| self.tree.scalar(v))
    }

    /// The path of a container's list `field` (`env`, `volumeMounts`) under the object.
    pub fn container_child(&self, c: &Container, field: &str) -> Vec<PathSeg> {
        let mut path = c.path();
        path.push(PathSeg::from(field));
        self.workload.pod_spec_child(&path)
    }
}

/// Plan the env `item` (`{name, value}` or `{name, valueFrom}`) in a container unless it sets
/// that name already; whether it was planned.
pub fn ensure_env(
    changes: &mut Changes<'_>,
    pod: &Pod<'_>,
    c: &Container,
    item: Value,
    at: EnvAt,
    reason: impl Into<String>,
) -> bool {
    let name = field(&item, "name");
    if pod.env_names(c).contains(&name.as_str()) {
        return false;
    }
    let index = match at {
        EnvAt::Front(n) => Some(n),
        EnvAt::Back => None,
    };
    changes.insert(&pod.container_child(c, "env"), index, item, name, reason);
    true
}

/// An env item `{name, value}`.
pub fn env_value(name: &str, value: &str) -> Value {
    Value::map([("name", Value::str(name)), ("value", Value::str(value))])
}

/// An env item `{name, valueFrom: {fieldRef: {fieldPath}}}`.
pub fn env_field(name: &str, field_path: &str) -> Value {
    Value::map([
        ("name", Value::str(name)),
        ("valueFrom", Value::map([("fieldRef", Value::map([("fieldPath", Value::str(field_path))]))])),
    ])
}

/// Plan the mount `item` (`{name, mountPath, ...}`) in a container unless it has a mount of
/// that name; a different mount at the same path (trailing `/` aside) is kept with a warning.
pub fn ensure_mount(changes: &mut Changes<'_>, pod: &Pod<'_>, c: &Container, item: Value, reason: impl Into<String>) {
    let (name, path) = (field(&item, "name"), field(&item, "mountPath"));
    let mounts = pod.mounts(c);
    if mounts.iter().any(|(n, _)| *n == Some(name.as_str())) {
        return;
    }
    let wanted = path.trim_end_matches('/');
    if let Some((other, _)) = mounts.iter().find(|(_, p)| p.map(|p| p.trim_end_matches('/')) == Some(wanted)) {
        changes.note(
            Level::Warning,
            format!(
                "{} mounts `{}` at {path}: a second mount at that path would get the pod rejected, so `{name}` is not mounted; rename that mount to `{name}`",
                c.describe(),
                other.unwrap_or("?")
            ),
        );
        return;
    }
    changes.insert(&pod.container_child(c, "volumeMounts"), None, item, name, reason);
}

/// Plan the pod volume `item` (`{name, ...}`) before item `index` or last, unless the pod has
/// a volume of that name; whether it was planned.
pub fn ensure_volume(
    changes: &mut Changes<'_>,
    pod: &Pod<'_>,
    index: Option<usize>,
    item: Value,
    reason: impl Into<String>,
) -> bool {
    let name = field(&item, "name");
    if pod.volume_names().contains(&name.as_str()) {
        return false;
    }
    changes.insert(&pod.workload.pod_spec_child(&[PathSeg::from("volumes")]), index, item, name, reason);
    true
}

/// A string field of an item the helpers are given (`name`, `mountPath`), which they report and
/// compare by.
fn field(item: &Value, key: &str) -> String {
    match item.get(key) {
        Some(Value::Str(s)) => s.clone(),
        _ => panic!("a pod-spec item needs a string `{key}`"),
    }
}

/// Plan `key: value` in the mapping at `at` (a path from the object, such as the pod template's
/// labels) unless it holds `key` already; what it holds is returned for the caller's note.
pub fn set_if_absent<'t>(
    changes: &mut Changes<'_>,
    tree: &'t Tree,
    at: &[PathSeg],
    key: &str,
    value: &str,
    reason: impl Into<String>,
) -> Existing<'t> {
    let node = changes.object().node;
    let existing = tree.resolve(node, at).and_then(|m| tree.get(m, key)).and_then(|v| tree.scalar(v));
    match existing {
        Some(v) if v == value => Existing::Same,
        Some(v) => Existing::Other(v),
        None => {
            changes.set(at, key, Value::str(value), reason);
            Existing::Absent
        }
    }
}
