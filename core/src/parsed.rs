//! The trees a render already holds for the documents it writes, so that the check reads them
//! instead of parsing the whole output stream again.
//!
//! A tree is the parse of one text: [`Tree::parse`] depends on nothing else but the line offset,
//! which only adds to every node's line. The check splits the output stream as before and takes
//! a held tree for an output document only when the document's bytes are the text that tree
//! was parsed from; every other document is parsed as before. So the objects, their values,
//! documents and lines are those a fresh parse of the output finds.
//!
//! A generated document is written after a `---` line of its own, so the output's document is
//! one line break followed by its text. A line break at the start of a document is an empty
//! line of the document prefix (YAML 1.2, `l-document-prefix`), read as nothing: the parse is
//! the same but for every line counting one more, which the held tree's lines get added.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use crate::resource::Peek;
use crate::yaml::Tree;

/// One document a render wrote, with the tree of its text, or for one it never parsed, the
/// scan of its top-level lines.
#[derive(Debug)]
struct Held<'a> {
    text: Cow<'a, str>,
    tree: Option<Tree>,
    /// The scan of a document the render did not parse, and whether a `---` opened it there
    /// (the scan reads the rest of the marker's line).
    peek: Option<(Peek, bool)>,
    /// The line offset the tree was parsed with.
    line_offset: usize,
    /// Whether the output writes one line break before the text (a generated document).
    after_break: bool,
}

impl Held<'_> {
    /// Whether `doc`, a document of the output, is this document's text as written.
    fn is(&self, doc: &str) -> bool {
        self.known() && self.written(doc).is_some_and(|written| same_text(written, &self.text))
    }

    /// Whether a tree or a scan is held (and not yet taken).
    fn known(&self) -> bool {
        self.tree.is_some() || self.peek.is_some()
    }

    /// The part of an output document that would be this document's text.
    fn written<'d>(&self, doc: &'d str) -> Option<&'d str> {
        if self.after_break {
            leading_break(doc)
        } else {
            Some(doc)
        }
    }
}

/// Whether two texts are equal. In wasm, `==` on bytes is compiler-builtins' `memcmp`, one
/// byte at a time, and the check compares every document it is handed with its held text
/// (megabytes of CRDs): 16 bytes at a time there is several times faster.
fn same_text(a: &str, b: &str) -> bool {
    if cfg!(target_arch = "wasm32") {
        blockwise_equal(a.as_bytes(), b.as_bytes())
    } else {
        a == b
    }
}

fn blockwise_equal(a: &[u8], b: &[u8]) -> bool {
    let (a_blocks, b_blocks) = (a.chunks_exact(16), b.chunks_exact(16));
    let block = |bytes: &[u8]| u128::from_ne_bytes(bytes.try_into().expect("16 bytes"));
    a.len() == b.len()
        && a_blocks.remainder() == b_blocks.remainder()
        && a_blocks.zip(b_blocks).all(|(x, y)| block(x) == block(y))
}

/// `doc` without its first line break, if it starts with one.
fn leading_break(doc: &str) -> Option<&str> {
    doc.strip_prefix("\r\n").or_else(|| doc.strip_prefix('\n'))
}

/// Trees of output documents, in the order the render writes them.
#[derive(Debug, Default)]
pub struct Parsed<'a> {
    docs: Vec<Held<'a>>,
    /// Where the next document in output order is expected.
    cursor: usize,
    /// The lengths of the held texts (with a tree or a scan not yet taken), built only when a
    /// document is not where it is expected: most such documents have no held text of their
    /// length, so they are never hashed.
    lengths: Option<HashSet<usize>>,
    /// The held documents by the hash of their text, built only when a document of a held
    /// text's length is not where it is expected.
    by_hash: Option<HashMap<u64, Vec<usize>>>,
}

/// What the render knew of an output document.
pub enum Known {
    /// The tree of its text.
    Tree(Taken),
    /// The scan of its top-level lines, for a document the render never parsed.
    Peek(Peek),
}

/// A tree taken for an output document. A parse of the output would count its node lines from
/// `line_offset` rather than `parsed_offset`: add the one, take away the other.
pub struct Taken {
    /// The tree of the document's text.
    pub tree: Tree,
    /// The line offset of the tree's text in the output.
    pub line_offset: usize,
    /// The line offset the tree was parsed with.
    pub parsed_offset: usize,
}

impl<'a> Parsed<'a> {
    /// Add the next document of the output: its text and the tree parsed from exactly that
    /// text with `line_offset`. A generated document (`after_break`) is written after a line
    /// break of its own.
    pub fn push(&mut self, text: Cow<'a, str>, tree: Tree, line_offset: usize, after_break: bool) {
        self.docs.push(Held { text, tree: Some(tree), peek: None, line_offset, after_break });
    }

    /// Add the next document of the output, one of the input's that the render left as it was
    /// and never parsed, with the scan [`crate::resource::peek`] made of it, opened by a `---`
    /// or not (`after_marker`): the check need not scan it again.
    pub fn push_unparsed(&mut self, text: &'a str, peek: Peek, after_marker: bool) {
        let held = Held {
            text: Cow::Borrowed(text),
            tree: None,
            peek: Some((peek, after_marker)),
            line_offset: 0,
            after_break: false,
        };
        self.docs.push(held);
    }

    /// The tree or the scan held for an output document whose text is `doc`, whose lines
    /// count from `line_offset` and which a `---` opens or not (`after_marker`), if one is
    /// held for it (each is taken once).
    pub fn take(&mut self, doc: &str, line_offset: usize, after_marker: bool) -> Option<Known> {
        let at = if self.docs.get(self.cursor).is_some_and(|d| d.is(doc)) { self.cursor } else { self.find(doc)? };
        self.cursor = at + 1;
        let held = &mut self.docs[at];
        // The text is no longer needed: free it (the edited ones are copies).
        held.text = Cow::Borrowed("");
        if let Some((peek, marker)) = held.peek.take() {
            return (marker == after_marker).then_some(Known::Peek(peek));
        }
        let tree = held.tree.take()?;
        let line_offset = line_offset + usize::from(held.after_break);
        Some(Known::Tree(Taken { tree, line_offset, parsed_offset: held.line_offset }))
    }

    /// A held document for output document `doc`, wherever it is.
    fn find(&mut self, doc: &str) -> Option<usize> {
        let docs = &self.docs;
        let held = || docs.iter().enumerate().filter(|(_, d)| d.known());
        let lengths = self.lengths.get_or_insert_with(|| held().map(|(_, d)| d.text.len()).collect());
        let texts: Vec<&str> = [Some(doc), leading_break(doc)].into_iter().flatten().collect();
        if !texts.iter().any(|t| lengths.contains(&t.len())) {
            return None;
        }
        let by_hash = self.by_hash.get_or_insert_with(|| {
            let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
            for (i, d) in held() {
                by_hash.entry(hash(&d.text)).or_default().push(i);
            }
            by_hash
        });
        let mut candidates = texts.into_iter().filter_map(|t| by_hash.get(&hash(t))).flatten();
        candidates.find(|&&i| docs[i].is(doc)).copied()
    }
}

fn hash(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Index;
    use crate::edit::{Op, Value};
    use crate::report::Report;
    use crate::stream::Stream;
    use crate::workspace::Workspace;

    const CM: &str = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n  annotations:\n    note: |\n      two\n      lines\ndata:\n  k: v\n";
    const GENERATED: &str =
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: made\n  labels: {a: b}\nspec:\n  selector: {app: made}\n";

    fn cm(name: &str) -> String {
        CM.replace("{name}", name)
    }

    /// Render `text` with an edit of every document (ServiceAccounts, a kind the check reads),
    /// a generated document and the first document removed: the output and the trees the
    /// workspace holds.
    fn render(text: &str, remove_first: bool) -> (String, Parsed<'_>) {
        let mut ws = Workspace::new(text);
        let segments: Vec<usize> = ws.segments().collect();
        for &i in &segments {
            let _ = ws.parse(i);
        }
        let mut report = Report::default();
        for &i in &segments {
            let Some(o) = ws.objects_in(i).first().cloned() else { continue };
            let path = vec!["metadata".into(), "labels".into(), "edited".into()];
            ws.edit(i, o.node, &[Op::Set { path, value: Value::str("yes") }], "object").unwrap();
        }
        ws.commit(&mut report).unwrap();
        if remove_first {
            ws.remove(segments[0]);
        }
        ws.append(GENERATED.to_string()).unwrap();
        ws.append(GENERATED.replace("made", "also-made")).unwrap();
        let (out, _, _, parsed) = ws.finish_parsed();
        (out, parsed)
    }

    fn objects(index: &Index) -> Vec<String> {
        index.objects().iter().map(|o| format!("{} {} {} {}", o.display(), o.document, o.line, o.value)).collect()
    }

    /// Which output documents get a held tree.
    fn reused(out: &str, mut parsed: Parsed<'_>) -> Vec<bool> {
        let stream = Stream::split(out);
        (0..stream.segments.len())
            .filter(|&i| stream.segments[i].has_content)
            .map(|i| {
                let segment = &stream.segments[i];
                let known = parsed.take(stream.segment_text(i), segment.line - 1, segment.after_marker);
                matches!(known, Some(Known::Tree(_)))
            })
            .collect()
    }

    fn same_as_a_fresh_parse(text: &str, remove_first: bool) -> Vec<bool> {
        let (out, parsed) = render(text, remove_first);
        let held = Index::build_parsed(&out, Some("ns"), parsed).unwrap();
        let fresh = Index::build(&out, Some("ns")).unwrap();
        assert!(!fresh.objects().is_empty());
        assert_eq!(objects(&held), objects(&fresh), "{out}");
        let (out, parsed) = render(text, remove_first);
        reused(&out, parsed)
    }

    #[test]
    fn texts_are_compared_whole() {
        let text: String = (0..100u8).map(|i| char::from(b'a' + i % 26)).collect();
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 99] {
            let a = &text.as_bytes()[..len];
            assert!(blockwise_equal(a, a));
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] = b'#';
                assert!(!blockwise_equal(a, &b), "{len} {at}");
            }
            assert!(!blockwise_equal(a, &text.as_bytes()[..len + 1]));
        }
    }

    #[test]
    fn held_trees_give_the_objects_lines_and_values_of_a_fresh_parse() {
        let plain = format!("{}---\n{}---\n{}", cm("a"), cm("b"), cm("c"));
        assert_eq!(same_as_a_fresh_parse(&plain, true), [true; 4]);
        assert_eq!(same_as_a_fresh_parse(&plain, false), [true; 5]);
        let crlf = plain.replace('\n', "\r\n");
        assert_eq!(same_as_a_fresh_parse(&crlf, true), [true; 4]);
        // Markers, a BOM, comment-only and null documents, the same document twice.
        let odd = format!(
            "\u{feff}# head\n---\n# only a comment\n---\n~\n---\n{}...\n---\n{}---\n{}",
            cm("a"),
            cm("a"),
            cm("b")
        );
        assert_eq!(same_as_a_fresh_parse(&odd, false), [true; 6]);
        // Without a final line break the last document stays last, the generated ones in
        // front of its `---` (or of the whole stream): found wherever they are.
        let open_end = plain.trim_end().to_string();
        assert_eq!(same_as_a_fresh_parse(&open_end, false), [true; 5]);
        // A lone document gets a `---` in front of it, and so other bytes: parsed again.
        let single = cm("a").trim_end().to_string();
        assert_eq!(same_as_a_fresh_parse(&single, false), [true, true, false]);
    }

    /// A document the render never parsed comes with the scan the render made of it, which
    /// the check reads instead of scanning again, only where its text and marker are the same.
    #[test]
    fn unparsed_documents_come_with_their_scan() {
        let text = format!("{}---\n{}", cm("a"), cm("b"));
        let ws = Workspace::new(&text);
        let (out, _, _, mut parsed) = ws.finish_parsed();
        assert_eq!(out, text);
        let stream = Stream::split(&out);
        let kinds: Vec<Option<String>> = (0..stream.segments.len())
            .map(|i| match parsed.take(stream.segment_text(i), 0, stream.segments[i].after_marker) {
                Some(Known::Peek(peek)) => peek.kind,
                _ => None,
            })
            .collect();
        assert_eq!(kinds, [Some("ServiceAccount".to_string()), Some("ServiceAccount".to_string())]);
        // The first document opened by a `---` it did not have: scanned again.
        let ws = Workspace::new(&text);
        let (_, _, _, mut parsed) = ws.finish_parsed();
        assert!(parsed.take(stream.segment_text(0), 0, true).is_none());
        assert!(matches!(parsed.take(stream.segment_text(1), 0, true), Some(Known::Peek(_))));
    }

    #[test]
    fn a_document_of_other_bytes_is_parsed() {
        let text = cm("a");
        let (out, parsed) = render(&text, false);
        let changed = out.replace("edited: \"yes\"", "edited: \"no\"");
        assert_eq!(reused(&changed, parsed), [false, true, true]);
        let (out, parsed) = render(&text, false);
        let index = Index::build_parsed(&out.replace("edited: \"yes\"", "edited: \"no\""), None, parsed).unwrap();
        assert_eq!(index.objects()[0].at(&["metadata", "labels", "edited"]), "no");
    }
}
