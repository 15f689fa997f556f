//! One error type for the engine: what went wrong, where (document, line, config path) and,
//! when there is one, how to fix it.

use std::fmt;

/// What kind of problem an [`Error`] is.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A document is not valid YAML.
    Yaml,
    /// A document is valid YAML but not a Kubernetes object postwire can handle.
    Document,
    /// The configuration is invalid (unknown key, wrong type, bad value).
    Config,
    /// A wiring cannot do what the configuration asks of a document.
    Wiring,
    /// A host sent a message postwire cannot read.
    Wire,
    /// The cross-object check found what `check.failOn` makes fatal.
    Check,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Yaml => "invalid YAML",
            ErrorKind::Document => "invalid document",
            ErrorKind::Config => "invalid config",
            ErrorKind::Wiring => "cannot wire",
            ErrorKind::Wire => "invalid request",
            ErrorKind::Check => "check failed",
        }
    }
}

/// Where in the input stream a problem is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocLocation {
    /// 1-based number of the document among the non-empty documents of the stream.
    pub index: usize,
    /// `Kind/namespace/name` when known.
    pub object: Option<String>,
    /// The chart template the document came from (`# Source:` or Helm 4's filename annotation).
    pub source: Option<String>,
}

/// An engine error. `Display` gives one line a user can act on. The representation is boxed
/// so that `Result<T, Error>` stays small on the happy path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(Box<Repr>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Repr {
    kind: ErrorKind,
    message: String,
    document: Option<DocLocation>,
    /// Where in a config source or document: e.g. `postwire.yaml` or `--set`.
    origin: Option<String>,
    /// 1-based line (absolute in the stream, or in the config source).
    line: Option<usize>,
    /// 1-based column.
    column: Option<usize>,
    /// Dotted field path, e.g. `checksum.mode` or `spec.template.metadata`.
    path: Option<String>,
    hint: Option<String>,
    /// A document the edit layer refuses to change (see [`Error::uneditable`]).
    uneditable: bool,
}

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Repr {
            kind,
            message: message.into(),
            document: None,
            origin: None,
            line: None,
            column: None,
            path: None,
            hint: None,
            uneditable: false,
        }))
    }

    /// A document that cannot be edited safely: both YAML 1.1 readers would not see exactly the
    /// intended change. The `onUneditable` setting decides whether this stops the render.
    pub fn uneditable(reason: impl Into<String>) -> Self {
        let mut e = Error::new(ErrorKind::Wiring, format!("cannot be edited safely: {}", reason.into())).with_hint(
            "set onUneditable: skip to leave such documents unchanged with a warning, or rewrite the template without it",
        );
        e.0.uneditable = true;
        e
    }

    /// Whether the edit layer refused to change a document (see [`Error::uneditable`]).
    pub fn is_uneditable(&self) -> bool {
        self.0.uneditable
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The process exit code hosts use for this error, so that a caller that only sees the
    /// code (Helm 4 hides a plugin's stderr) still learns what kind of problem it is:
    /// 3 invalid config, 4 invalid input (YAML or document), 5 a wiring cannot do what the
    /// config asks, 6 an unreadable request, 7 findings of the cross-object check.
    pub fn exit_code(&self) -> u8 {
        match self.0.kind {
            ErrorKind::Config => 3,
            ErrorKind::Yaml | ErrorKind::Document => 4,
            ErrorKind::Wiring => 5,
            ErrorKind::Wire => 6,
            ErrorKind::Check => 7,
        }
    }

    /// The message without location or hint.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The document the error is about, if any.
    pub fn document(&self) -> Option<&DocLocation> {
        self.0.document.as_ref()
    }

    /// The 1-based line, if known.
    pub fn line(&self) -> Option<usize> {
        self.0.line
    }

    /// The 1-based column, if known.
    pub fn column(&self) -> Option<usize> {
        self.0.column
    }

    /// Where in a config source the error is (a config file name, `--set`, `in-stream
    /// PostwireConfig`), if known.
    pub fn origin(&self) -> Option<&str> {
        self.0.origin.as_deref()
    }

    /// The hint that says how to fix the problem, if any.
    pub fn hint(&self) -> Option<&str> {
        self.0.hint.as_deref()
    }

    /// The field path, if known.
    pub fn path(&self) -> Option<&str> {
        self.0.path.as_deref()
    }

    /// Attach the document (kept if already set).
    pub fn in_document(mut self, doc: DocLocation) -> Self {
        self.0.document.get_or_insert(doc);
        self
    }

    /// Attach the origin (a config file name, `--set`, `in-stream PostwireConfig`).
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.0.origin.get_or_insert(origin.into());
        self
    }

    /// Attach a position (kept if already set).
    pub fn at(mut self, line: usize, column: usize) -> Self {
        if self.0.line.is_none() {
            self.0.line = Some(line);
            self.0.column = Some(column);
        }
        self
    }

    /// Attach a line without a column (kept if a position is already set).
    pub fn at_line(mut self, line: usize) -> Self {
        if self.0.line.is_none() {
            self.0.line = Some(line);
        }
        self
    }

    /// Attach a field path (kept if already set).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.0.path.get_or_insert(path.into());
        self
    }

    /// Attach a hint that says how to fix the problem.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }

    /// The error with its free texts (message, hint, path, origin, object) passed through `f`:
    /// how Secret values are scrubbed from it (see [`crate::redact`]).
    pub fn map_text(mut self, f: impl Fn(&str) -> String) -> Self {
        let r = &mut *self.0;
        r.message = f(&r.message);
        for text in [&mut r.hint, &mut r.path, &mut r.origin].into_iter().flatten() {
            *text = f(text);
        }
        if let Some(object) = r.document.as_mut().and_then(|d| d.object.as_mut()) {
            *object = f(object);
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote_where = false;
        if let Some(doc) = &self.0.document {
            write!(f, "document {}", doc.index)?;
            if let Some(object) = &doc.object {
                write!(f, " ({object})")?;
            }
            if let Some(source) = &doc.source {
                write!(f, " from {source}")?;
            }
            wrote_where = true;
        }
        if let Some(origin) = &self.0.origin {
            if wrote_where {
                f.write_str(", ")?;
            }
            f.write_str(origin)?;
            wrote_where = true;
        }
        if let Some(line) = self.0.line {
            f.write_str(if wrote_where { " " } else { "" })?;
            write!(f, "line {line}")?;
            if let Some(column) = self.0.column {
                write!(f, ", column {column}")?;
            }
            wrote_where = true;
        }
        if wrote_where {
            f.write_str(": ")?;
        }
        write!(f, "{}: ", self.0.kind.describe())?;
        if let Some(path) = &self.0.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.0.message)?;
        if let Some(hint) = &self.0.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Shorthand result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_document_line_path_and_hint() {
        let err = Error::new(ErrorKind::Config, "unknown field `mod`")
            .with_origin("postwire.yaml")
            .at(4, 3)
            .with_path("checksum.mod")
            .with_hint("did you mean `mode`?");
        assert_eq!(
            err.to_string(),
            "postwire.yaml line 4, column 3: invalid config: checksum.mod: unknown field `mod` (did you mean `mode`?)"
        );
        let err = Error::new(ErrorKind::Yaml, "did not find expected key").at(12, 5).in_document(DocLocation {
            index: 3,
            object: Some("Deployment/web".into()),
            source: Some("chart/templates/deploy.yaml".into()),
        });
        assert_eq!(
            err.to_string(),
            "document 3 (Deployment/web) from chart/templates/deploy.yaml line 12, column 5: invalid YAML: did not find expected key"
        );
    }
}
