//! The generic machinery of postwire's configuration: where a config comes from and how
//! sources merge, the positioned deserialiser that names file and line, `${NAME}` values, and
//! the one error type a section's checks after parsing return ([`Invalid`]). What the sections
//! are is the pipeline's business (`crate::pipeline::PostwireConfig`); this module knows none.
//!
//! Sources, lowest precedence first, deep-merged (mappings merge, lists and scalars replace):
//! 1. a `PostwireConfig` document inside the stream (a chart can ship one; it is removed
//!    from the output),
//! 2. the config file (`--config`),
//! 3. `--set path=value` overrides, in order.
//!
//! Unknown keys and wrong types are errors that name the source, line, field path and the
//! closest valid key.

mod de;
mod value;

use serde::de::DeserializeOwned;

pub use value::{parse_set, Origin, Spanned, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::yaml::{display_path, PathSeg, Tree};

/// The config apiVersion this build reads.
pub const API_VERSION: &str = "postwire.dev/v1alpha1";
/// The config kind.
pub const KIND: &str = "PostwireConfig";

/// A config source: its name for messages and its value.
#[derive(Debug, Clone)]
pub struct Source {
    /// `postwire.yaml`, `document 4 (PostwireConfig)`…
    pub name: String,
    /// The parsed value.
    pub value: Spanned,
}

/// Parse a config file's text into a source. `apiVersion` and `kind` may be left out (a
/// file given with `--config` can only be a `PostwireConfig`); when present they must be
/// `postwire.dev/v1alpha1` and `PostwireConfig`.
pub fn file_source(name: &str, text: &str) -> Result<Source> {
    let tree = Tree::parse(text, 0).map_err(|e| e.with_origin(name.to_string()))?;
    let Some(root) = tree.root().filter(|&r| !tree.is_null(r)) else {
        return Err(Error::new(ErrorKind::Config, "the config file is empty")
            .with_origin(name.to_string())
            .with_hint("a minimal config is `checksum: {}`; `postwire schema` lists every key"));
    };
    if !tree.is_mapping(root) {
        let n = tree.node(root);
        return Err(Error::new(ErrorKind::Config, "the config must be a mapping")
            .with_origin(name.to_string())
            .at(n.line, n.col + 1));
    }
    let value = Spanned::from_tree(&tree, root, name)?;
    check_type_meta(&value, name)?;
    Ok(Source { name: name.to_string(), value })
}

/// A `PostwireConfig` document of the stream as a config source, named after the chart
/// template it came from (`# Source:` or Helm 4's filename annotation) with lines counted in
/// that document, so a message reads `chart/templates/postwire.yaml line 4 (document 7)`.
/// `first_line` is the stream line of the document's first line.
pub fn document_source(
    tree: &Tree,
    root: crate::yaml::NodeId,
    number: usize,
    template: Option<&str>,
    first_line: usize,
) -> Result<Source> {
    let name = match template {
        Some(t) => format!("{t} (document {number}, PostwireConfig)"),
        None => format!("document {number} (PostwireConfig)"),
    };
    let mut value = Spanned::from_tree(tree, root, &name)?;
    if template.is_some() {
        value.rebase_lines(first_line.saturating_sub(1));
    }
    Ok(Source { name, value })
}

/// Check `apiVersion` and `kind` of a file or in-stream config: absent is fine, anything
/// else than `postwire.dev/v1alpha1` / `PostwireConfig` is an error at its line.
pub fn check_type_meta(value: &Spanned, name: &str) -> Result<()> {
    let hint = format!("a config file starts with `apiVersion: {API_VERSION}` and `kind: {KIND}`, or leaves both out");
    let at = |err: Error, key: &str| match value.get(key).and_then(|v| v.origin.line.map(|l| (l, v.origin.column))) {
        Some((line, Some(column))) => err.at(line, column),
        Some((line, None)) => err.at_line(line),
        None => err,
    };
    if value.get("kind").is_some() && value.top_str("kind") != Some(KIND) {
        let found = value.top_str("kind").map_or("not a string".to_string(), |k| format!("`{k}`"));
        return Err(at(
            Error::new(ErrorKind::Config, format!("kind is {found}, expected `{KIND}`"))
                .with_origin(name.to_string())
                .with_path("kind")
                .with_hint(hint),
            "kind",
        ));
    }
    if value.get("apiVersion").is_some() && value.top_str("apiVersion") != Some(API_VERSION) {
        let found = value.top_str("apiVersion").map_or("not a string".to_string(), |v| format!("`{v}`"));
        return Err(at(
            Error::new(
                ErrorKind::Config,
                format!("unsupported apiVersion {found}; this postwire ({}) reads `{API_VERSION}`", crate::VERSION),
            )
            .with_origin(name.to_string())
            .with_path("apiVersion"),
            "apiVersion",
        ));
    }
    Ok(())
}

/// Merge the sources (lowest precedence first) and type-check the result.
pub fn resolve<T: DeserializeOwned>(
    sources: Vec<Source>,
    validate: impl Fn(&T) -> std::result::Result<(), Invalid>,
) -> Result<T> {
    let mut merged = Spanned::empty_map("defaults");
    for source in sources {
        merged.merge(source.value);
    }
    let config = T::deserialize(de::Deserializer(&merged)).map_err(|e| {
        let mut path = String::new();
        for segment in &e.path {
            if !path.is_empty() && !segment.starts_with('[') {
                path.push('.');
            }
            path.push_str(segment);
        }
        let mut hint = e.hint;
        // `--set checksum.exclude=a` is a string; Helm writes lists in braces.
        if let Some(set) = e.source.as_deref().and_then(|s| s.strip_prefix("--set ")) {
            if e.message.starts_with("expected a list") {
                if let Some((key, value)) = set.split_once('=') {
                    hint = Some(format!("write a list in braces: --set {key}={{{value}}}"));
                }
            }
        }
        let mut err = Error::new(ErrorKind::Config, e.message);
        if let Some(source) = e.source {
            err = err.with_origin(source);
        }
        if let Some(line) = e.line {
            err = match e.column {
                Some(column) => err.at(line, column),
                None => err.at_line(line),
            };
        }
        if !path.is_empty() {
            err = err.with_path(path);
        }
        if let Some(hint) = hint {
            err = err.with_hint(hint);
        }
        err
    })?;
    validate(&config).map_err(|invalid| locate(invalid.error, &merged, &invalid.path))?;
    Ok(config)
}

fn locate(err: Error, merged: &Spanned, path: &[PathSeg]) -> Error {
    let mut node = Some(merged);
    for key in path {
        node = node.and_then(|n| match key {
            PathSeg::Key(k) => n.get(k),
            PathSeg::Index(i) => n.item(*i),
        });
    }
    let Some(node) = node else { return err };
    let err = err.with_origin(node.origin.source.clone());
    match (node.origin.line, node.origin.column) {
        (Some(line), Some(column)) => err.at(line, column),
        (Some(line), None) => err.at_line(line),
        _ => err,
    }
}

/// A value that parses but is not valid, and the config path of the value at fault: what a
/// section's `validate` returns. [`resolve`] turns the path into the source, line and column.
#[derive(Debug)]
pub struct Invalid {
    /// The error; it names the dotted path (`checksum.include[1]`).
    pub error: Error,
    /// Where the value is.
    pub path: Vec<PathSeg>,
}

impl Invalid {
    /// `message` about the value at `path`.
    pub fn new(message: impl Into<String>, path: Vec<PathSeg>) -> Self {
        let error = Error::new(ErrorKind::Config, message).with_path(display_path(&path));
        Invalid { error, path }
    }

    /// With a hint on what to write instead (an empty one is none).
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        if !hint.is_empty() {
            self.error = self.error.with_hint(hint);
        }
        self
    }
}
