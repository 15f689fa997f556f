//! Secret values never leave postwire in a message: every error and every report text is
//! scrubbed of the values of the stream's Secrets (`stringData` values, `data` values and their
//! base64 decoding) before a host sees it.
//!
//! Wirings try not to quote values from Secrets in the first place (a failed patch `test` on a
//! Secret says a value differs, not what it is); this is the net under them, for messages that
//! quote a value they did not know came from a Secret (template filters, config errors).

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;

use crate::error::Error;
use crate::report::Report;
use crate::resource::Peek;
use crate::stream::Stream;
use crate::yaml::{NodeId, NodeKind, Tree};

/// One document of a stream, with what a render already knows of it.
pub(crate) struct Document<'t> {
    /// Its text.
    pub text: &'t str,
    /// Whether a `---` opened it.
    pub after_marker: bool,
    /// The scan of its top-level lines ([`crate::resource::peek`]), if made.
    pub peek: Option<&'t Peek>,
    /// The whole parse of `text`, if made.
    pub tree: Option<&'t Tree>,
}

/// Whether `text` mentions a Secret at all: a stream or document that does not holds no
/// Secret value. memchr's search, built once: core's `str::contains` is several times slower
/// on megabytes in wasm.
pub(crate) fn mentions_secret(text: &str) -> bool {
    static SECRET: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("Secret"));
    SECRET.find(text.as_bytes()).is_some()
}

/// What replaces a Secret value in a message.
pub const REDACTED: &str = "<redacted>";

/// Values shorter than this are not scrubbed from free text: replacing every `1` or `on` would
/// garble messages and tells a reader nothing they could not guess. Wirings never quote Secret
/// values at all (see the module comment); this floor only bounds the net.
const MIN_LEN: usize = 3;

/// The values of the Secrets in a stream (or in a `ResourceList`'s items), and one automaton
/// that finds any of them in a text in a single pass (a report of N objects from a stream of N
/// Secrets would otherwise take N x N searches).
#[derive(Debug, Default, Clone)]
pub struct SecretValues {
    values: Vec<String>,
    finder: Option<AhoCorasick>,
}

impl SecretValues {
    /// Collect the values of every Secret in `manifests`. Documents that do not parse are
    /// skipped (the render reports them).
    pub fn collect(manifests: &str) -> Self {
        if !mentions_secret(manifests) {
            return SecretValues::default();
        }
        let stream = Stream::split(manifests);
        let documents = (0..stream.segments.len()).map(|i| Document {
            text: stream.segment_text(i),
            after_marker: stream.segments[i].after_marker,
            peek: None,
            tree: None,
        });
        SecretValues::of_documents(documents)
    }

    /// [`SecretValues::collect`] over the documents of a stream, reading the scans and trees a
    /// render already made of them instead of making them again: the same values. Callers
    /// first ask [`mentions_secret`] of the whole stream, before any work per document.
    pub(crate) fn of_documents<'t>(documents: impl Iterator<Item = Document<'t>>) -> Self {
        let mut values = Vec::new();
        for doc in documents {
            if !mentions_secret(doc.text) {
                continue;
            }
            let scanned;
            let peek = match doc.peek {
                Some(peek) => peek,
                None => {
                    scanned = crate::resource::peek(doc.text, doc.after_marker);
                    &scanned
                }
            };
            if cannot_hold_a_secret(doc.text, peek) {
                continue;
            }
            let parsed;
            let tree = match doc.tree {
                Some(tree) => tree,
                None => match Tree::parse(doc.text, 0) {
                    Ok(tree) => {
                        parsed = tree;
                        &parsed
                    }
                    Err(_) => continue,
                },
            };
            if let Some(root) = tree.root() {
                secrets_in(tree, root, &mut values);
            }
        }
        let mut expanded: Vec<String> = Vec::new();
        for v in values {
            add_forms(&v, &mut expanded);
        }
        expanded.retain(|v| v.chars().count() >= MIN_LEN);
        expanded.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        expanded.dedup();
        // Leftmost-longest: where one value contains another, the longer one is replaced whole.
        let finder = (!expanded.is_empty())
            .then(|| AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&expanded).ok())
            .flatten();
        SecretValues { values: expanded, finder }
    }

    /// The texts scrubbed: every value in each of its forms, longest first.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every Secret value replaced by [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        match &self.finder {
            Some(finder) => {
                let mut out = String::with_capacity(text.len());
                finder.replace_all_with(text, &mut out, |_, _, dst| {
                    dst.push_str(REDACTED);
                    true
                });
                out
            }
            // No values, or more than the automaton can hold: one search per value.
            None => self.values.iter().fold(text.to_string(), |out, v| out.replace(v.as_str(), REDACTED)),
        }
    }

    /// An error with its message, hint and path scrubbed.
    pub fn scrub_error(&self, err: Error) -> Error {
        if self.is_empty() {
            return err;
        }
        err.map_text(|t| self.scrub(t))
    }

    /// Every text of a report scrubbed.
    pub fn scrub_report(&self, report: &mut Report) {
        if self.is_empty() {
            return;
        }
        // Most texts hold no value: they are searched, and written anew only when they do.
        let scrub = |text: &mut String| {
            if self.finder.as_ref().is_none_or(|finder| finder.is_match(text.as_str())) {
                *text = self.scrub(text);
            }
        };
        for doc in &mut report.documents {
            scrub(&mut doc.object);
            for change in &mut doc.changes {
                scrub(&mut change.reason);
                scrub(&mut change.key);
                scrub(&mut change.path);
            }
            for note in &mut doc.notes {
                scrub(&mut note.message);
            }
        }
    }
}

/// What a Secret value shows as in `postwire diff`: the same on both sides when unchanged.
pub const MASK: &str = "'********'";
/// What a changed Secret value shows as on the new side of `postwire diff`.
pub const MASK_CHANGED: &str = "'++++++++ (changed)'";

/// `before` and `after` with every value under a Secret's `data` and `stringData` replaced by
/// [`MASK`], or on the after side by [`MASK_CHANGED`] where the value differs from the same
/// Secret's before, so a diff of the two shows keys and whether they changed, never values
/// (as helm-diff and Argo CD show Secrets). Documents that do not parse are masked whole.
pub fn mask_secret_data(before: &str, after: &str) -> (String, String) {
    let mut old_values = std::collections::HashMap::new();
    let masked_before = mask_stream(before, |_, _| MASK, &mut |id, value| {
        old_values.insert(id, value.to_string());
    });
    let masked_after = mask_stream(
        after,
        |id, value| if old_values.get(id).is_some_and(|v| v == value) { MASK } else { MASK_CHANGED },
        &mut |_, _| {},
    );
    (masked_before, masked_after)
}

/// A Secret value's identity across two streams: object, field, key.
type ValueId = (String, &'static str, String);

fn mask_stream(
    text: &str,
    mask: impl Fn(&ValueId, &str) -> &'static str,
    seen: &mut dyn FnMut(ValueId, &str),
) -> String {
    let stream = Stream::split(text);
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for i in 0..stream.segments.len() {
        let doc = stream.segment_text(i);
        let offset = doc.as_ptr() as usize - text.as_ptr() as usize;
        if !doc.contains("Secret") {
            continue;
        }
        let tree = match Tree::parse(doc, 0) {
            Ok(tree) => tree,
            Err(_) => {
                out.push_str(&text[cursor..offset]);
                out.push_str("# (a document that does not parse: not shown)\n");
                cursor = offset + doc.len();
                continue;
            }
        };
        let Some(root) = tree.root().filter(|&r| tree.is_mapping(r)) else { continue };
        if tree.str_at(root, &["kind"]) != Some("Secret") {
            continue;
        }
        let name = format!(
            "{}/{}",
            tree.str_at(root, &["metadata", "namespace"]).unwrap_or(""),
            tree.str_at(root, &["metadata", "name"]).unwrap_or("")
        );
        let mut spans = Vec::new();
        for field in ["data", "stringData"] {
            let Some(map) = tree.get(root, field) else { continue };
            for &(k, v) in tree.entries(map) {
                let id = (name.clone(), field, tree.scalar(k).unwrap_or("").to_string());
                let value = tree.scalar(tree.resolved(v)).unwrap_or("");
                // From the key's end, so a block scalar's indicator and lines go too.
                let (start, end) = (tree.node(k).end, tree.node(v).end);
                let newline = if doc[start..end].ends_with('\n') { "\n" } else { "" };
                spans.push((start, end, format!(": {}{newline}", mask(&id, value))));
                seen(id, value);
            }
        }
        spans.sort();
        for (start, end, replacement) in spans {
            out.push_str(&text[cursor..offset + start]);
            out.push_str(&replacement);
            cursor = offset + end;
        }
    }
    out.push_str(&text[cursor..]);
    out
}

/// The forms a value can take in a message: itself, each long line of it, its JSON-escaped
/// text, and for `data` values their base64 decoding.
fn add_forms(value: &str, out: &mut Vec<String>) {
    out.push(value.to_string());
    let escaped = serde_json::to_string(value).expect("a string serializes");
    out.push(escaped[1..escaped.len() - 1].to_string());
    if value.contains('\n') {
        out.extend(value.lines().filter(|l| l.trim().len() >= 8).map(|l| l.trim().to_string()));
    }
}

/// Whether a scan of the top-level lines shows that [`secrets_in`] would find nothing in the
/// document: its root is of another kind and has no `items` (a CRD whose schema mentions
/// Secrets, a ConfigMap quoting one), so it need not be parsed.
fn cannot_hold_a_secret(text: &str, peek: &Peek) -> bool {
    // Only a top-level key starts in column 0 of a document the scan calls simple.
    let top_level_items = text.starts_with("items") || memchr::memmem::find(text.as_bytes(), b"\nitems").is_some();
    peek.simple && peek.kind.as_deref().is_some_and(|kind| kind != "Secret") && !top_level_items
}

fn secrets_in(tree: &Tree, node: NodeId, out: &mut Vec<String>) {
    let node = tree.resolved(node);
    if !tree.is_mapping(node) {
        return;
    }
    if tree.str_at(node, &["kind"]) == Some("Secret") {
        for field in ["stringData", "data"] {
            let Some(map) = tree.get(node, field).map(|m| tree.resolved(m)) else { continue };
            for &(_, v) in tree.entries(map) {
                let Some(value) = tree.scalar(tree.resolved(v)) else { continue };
                out.push(value.to_string());
                if field == "data" {
                    let compact: String = value.split_whitespace().collect();
                    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(compact) {
                        out.push(String::from_utf8_lossy(&bytes).into_owned());
                    }
                }
            }
        }
    }
    // A List or a ResourceList holds its objects under `items`.
    if let Some(items) = tree.get(node, "items") {
        if let NodeKind::Sequence { items, .. } = &tree.node(tree.resolved(items)).kind {
            for &item in items {
                secrets_in(tree, item, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  token: Zebra-77\n  pin: \"1234\"\ndata:\n  key: aHVudGVyMg==\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  public: visible-value\n";

    #[test]
    fn scrubs_string_data_data_and_its_decoding() {
        let secrets = SecretValues::collect(STREAM);
        let text = "found Zebra-77, 1234, aHVudGVyMg== (hunter2) and visible-value";
        assert_eq!(secrets.scrub(text), "found <redacted>, <redacted>, <redacted> (<redacted>) and visible-value");
    }

    #[test]
    fn finds_secrets_in_resource_list_items() {
        let list = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n  stringData: {token: Zebra-77}\n";
        assert_eq!(SecretValues::collect(list).scrub("Zebra-77"), REDACTED);
    }

    #[test]
    fn diffs_of_secrets_show_keys_and_changes_not_values() {
        let after = STREAM.replace("token: Zebra-77", "token: Zebra-78");
        let (old, new) = mask_secret_data(STREAM, &after);
        for text in [&old, &new] {
            assert!(!text.contains("Zebra") && !text.contains("1234") && !text.contains("aHVudGVyMg"), "{text}");
            assert!(text.contains("visible-value"), "{text}");
        }
        assert!(old.contains("  token: '********'\n  pin: '********'\n"), "{old}");
        assert!(new.contains("  token: '++++++++ (changed)'\n  pin: '********'\n"), "{new}");
        assert!(new.contains("  key: '********'\n"), "{new}");
        // Block scalars and documents other than Secrets.
        let block = "kind: Secret\nmetadata: {name: b}\nstringData:\n  cert: |\n    line one\n    line two\nother: x\n";
        let (masked, _) = mask_secret_data(block, block);
        assert!(masked.ends_with("  cert: '********'\nother: x\n"), "{masked}");
    }

    /// The scan that spares parsing documents of other kinds must never spare a Secret.
    #[test]
    fn only_documents_that_cannot_hold_a_secret_are_left_unparsed() {
        for (text, skipped) in [
            ("apiVersion: v1\nkind: ConfigMap\ndata: {a: Secret}\n", true),
            ("kind: CustomResourceDefinition\nspec:\n  description: a Secret\n", true),
            ("kind: Secret\nstringData: {a: Zebra-77}\n", false),
            ("kind: 'Secret'\nstringData: {a: Zebra-77}\n", false),
            // The scan cannot read these; the parser can.
            ("kind: !!str Secret\nstringData: {a: Zebra-77}\n", false),
            ("kind: &k Secret\nstringData: {a: Zebra-77}\n", false),
            ("{kind: Secret, stringData: {a: Zebra-77}}\n", false),
            ("kind: Secret\nkind: ConfigMap\n", false),
            // Lists hold their objects under `items`, whatever their kind.
            ("kind: List\nitems:\n- kind: Secret\n  stringData: {a: Zebra-77}\n", false),
            ("kind: Whatever\nitems:\n- kind: Secret\n  stringData: {a: Zebra-77}\n", false),
        ] {
            assert_eq!(cannot_hold_a_secret(text, &crate::resource::peek(text, false)), skipped, "{text}");
            let found = !SecretValues::collect(text).is_empty();
            assert!(skipped || found || !text.contains("Zebra"), "a Secret went unseen: {text}");
        }
    }

    #[test]
    fn streams_without_secrets_scrub_nothing() {
        assert!(SecretValues::collect("apiVersion: v1\nkind: ConfigMap\ndata: {a: Secret}\n").is_empty());
    }
}
