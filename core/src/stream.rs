//! Split a YAML stream into documents without losing a byte, and join it back.
//!
//! A line that starts with `---` or `...` followed by white space or the end of the line is a
//! document marker wherever it appears: YAML forbids such a line inside any scalar, so a
//! line scan finds exactly the boundaries a full parser would. Everything between markers is a
//! [`Segment`]; the markers themselves and the BOM are kept as separator text, so joining the
//! pieces back reproduces the input exactly.

/// One stretch of text between document markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Byte offset of the first byte of the segment in the stream.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// 1-based line of `start` in the stream.
    pub line: usize,
    /// Whether the segment was opened by a `---` marker (the marker ends at `start`).
    pub after_marker: bool,
    /// Whether the segment holds YAML content (anything but blank lines, comments, directives).
    pub has_content: bool,
}

/// A stream split into segments.
#[derive(Debug, Clone)]
pub struct Stream<'a> {
    /// The whole input.
    pub text: &'a str,
    /// The segments in order. The text between consecutive segments is separator text.
    pub segments: Vec<Segment>,
    /// Whether the input uses CRLF line endings (judged by its first line; used for the text
    /// postwire adds).
    pub crlf: bool,
    /// Whether the input carries Helm 4's filename annotation (found once, when a generated
    /// document first asks).
    filename_annotation: std::cell::OnceCell<bool>,
}

/// Helm 4 stamps each document with this annotation before post-rendering and regroups the
/// output files by it afterwards.
pub const FILENAME_ANNOTATION: &str = "postrenderer.helm.sh/postrender-filename";

/// The starts of the lines that begin with `---` or `...` (from `body_start`), in order, with
/// which of the two: the candidates for document markers. The search is for the three
/// characters alone: with the line break in front, the vector search's first candidates are a
/// line break and a `-` three bytes on, which every `  - item` line of YAML is.
fn marker_candidates(bytes: &[u8], body_start: usize) -> Vec<(usize, &'static [u8; 3])> {
    let mut found = Vec::new();
    let body = &bytes[body_start..];
    for marker in [b"---", b"..."] {
        let at_line_start = |&i: &usize| i == 0 || body[i - 1] == b'\n';
        found.extend(memchr::memmem::find_iter(body, marker).filter(at_line_start).map(|i| (body_start + i, marker)));
    }
    found.sort_unstable_by_key(|&(at, _)| at);
    found
}

fn is_marker(line: &[u8], marker: &[u8; 3]) -> bool {
    line.starts_with(marker) && matches!(line.get(3), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
}

/// Whether a segment holds anything but blank lines, comments and directives.
fn has_content(text: &str) -> bool {
    // A lone CR ends a line for YAML readers too: a comment before one hides nothing after it.
    text.split(['\n', '\r']).any(|line| {
        let trimmed = line.trim_start_matches([' ', '\t', '\u{feff}']);
        !(trimmed.is_empty() || trimmed.starts_with('#') || line.starts_with('%'))
    })
}

impl<'a> Stream<'a> {
    /// Split `text` into segments.
    pub fn split(text: &'a str) -> Stream<'a> {
        let bytes = text.as_bytes();
        let body_start = if text.starts_with('\u{feff}') { 3 } else { 0 };
        let mut segments = Vec::new();
        let mut seg_start = body_start;
        let mut seg_line = 1;
        let mut after_marker = false;
        // Lines are counted up to each marker only: the line count of a long stretch is one
        // vector pass, where visiting every line costs a search per line (several times more
        // in wasm).
        let mut line_no = 1;
        let mut counted_to = body_start;
        for (line_start, marker) in marker_candidates(bytes, body_start) {
            let line_end = memchr::memchr(b'\n', &bytes[line_start..]).map_or(bytes.len(), |i| line_start + i + 1);
            if !is_marker(&bytes[line_start..line_end], marker) {
                continue;
            }
            line_no += memchr::memchr_iter(b'\n', &bytes[counted_to..line_start]).count();
            counted_to = line_start;
            if marker == b"---" {
                push(&mut segments, text, seg_start, line_start, seg_line, after_marker);
                seg_start = line_start + 3;
                seg_line = line_no;
                after_marker = true;
            } else {
                push(&mut segments, text, seg_start, line_start, seg_line, after_marker);
                seg_start = line_end;
                seg_line = line_no + 1;
                after_marker = false;
            }
        }
        push(&mut segments, text, seg_start, bytes.len(), seg_line, after_marker);
        Stream {
            text,
            segments,
            crlf: memchr::memchr(b'\n', bytes).is_some_and(|i| i > 0 && bytes[i - 1] == b'\r'),
            filename_annotation: std::cell::OnceCell::new(),
        }
    }

    /// The text of segment `i`.
    pub fn segment_text(&self, i: usize) -> &'a str {
        let s = &self.segments[i];
        &self.text[s.start..s.end]
    }

    /// Whether the input used Helm 4's filename annotation on its documents (new documents
    /// then get one too, so `helm template --output-dir` and `--show-only` keep working).
    pub fn uses_filename_annotation(&self) -> bool {
        *self
            .filename_annotation
            .get_or_init(|| memchr::memmem::find(self.text.as_bytes(), FILENAME_ANNOTATION.as_bytes()).is_some())
    }

    /// The line break the stream uses.
    pub fn newline(&self) -> &'static str {
        if self.crlf {
            "\r\n"
        } else {
            "\n"
        }
    }
}

fn push(segments: &mut Vec<Segment>, text: &str, start: usize, end: usize, line: usize, after_marker: bool) {
    // A stretch that is empty and not opened by a marker is just the gap between a `...` and the
    // next `---`; it is separator text, not a document.
    if start >= end && !after_marker {
        return;
    }
    segments.push(Segment { start, end, line, after_marker, has_content: has_content(&text[start..end]) });
}

/// What to emit in place of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replacement {
    /// The original bytes.
    Keep,
    /// New text for the segment.
    Text(String),
    /// Drop the segment together with the marker that opened it.
    Remove,
}

/// Join the stream back, replacing segments and appending new documents.
///
/// `appended` documents are written after a `---` line each, in the given order.
pub fn join(stream: &Stream<'_>, replacements: &[Replacement], appended: &[String]) -> String {
    debug_assert_eq!(replacements.len(), stream.segments.len());
    let extra: usize = replacements
        .iter()
        .map(|r| match r {
            Replacement::Text(t) => t.len(),
            _ => 0,
        })
        .sum::<usize>()
        + appended.iter().map(|d| d.len() + 5).sum::<usize>();
    let mut out = String::with_capacity(stream.text.len() + extra);
    let mut cursor = 0;
    for (segment, replacement) in stream.segments.iter().zip(replacements) {
        match replacement {
            Replacement::Keep => {}
            Replacement::Text(text) => {
                out.push_str(&stream.text[cursor..segment.start]);
                out.push_str(text);
                cursor = segment.end;
            }
            Replacement::Remove => {
                let from = if segment.after_marker { segment.start - 3 } else { segment.start };
                out.push_str(&stream.text[cursor..from]);
                cursor = segment.end;
            }
        }
    }
    out.push_str(&stream.text[cursor..]);
    let nl = stream.newline();
    let mut generated = String::with_capacity(appended.iter().map(|d| d.len() + 5).sum());
    for doc in appended {
        if !generated.is_empty() && !generated.ends_with('\n') {
            generated.push_str(nl);
        }
        generated.push_str("---");
        generated.push_str(nl);
        generated.push_str(doc);
    }
    if generated.is_empty() {
        return out;
    }
    if out.is_empty() || out.ends_with('\n') {
        out.push_str(&generated);
        return out;
    }
    if !generated.ends_with('\n') {
        generated.push_str(nl);
    }
    // The last line has no line break, and adding one could change the last document: in a
    // block scalar (`note: |` then `x`) the break becomes part of the value for Go's yaml.v2
    // (kubectl, Helm), "x" before and "x\n" after (YAML 1.2, 8.1.1.2: clip chomping keeps a
    // final line break only where there is one). So that document stays last, byte for byte,
    // and the generated documents go in front of its `---` (or of the whole stream, given a
    // `---` of its own, when it has none).
    match last_marker(&out) {
        Some(at) => out.insert_str(at, &generated),
        None => {
            let bom = if out.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
            generated.push_str("---");
            generated.push_str(nl);
            out.insert_str(bom, &generated);
        }
    }
    out
}

/// Where the last `---` document marker line of `text` starts.
fn last_marker(text: &str) -> Option<usize> {
    let mut end = text.len();
    while let Some(found) = text[..end].rfind("---") {
        let at_line_start = found == 0 || text.as_bytes()[found - 1] == b'\n';
        if at_line_start && is_marker(&text.as_bytes()[found..], b"---") {
            return Some(found);
        }
        end = found;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The segments a visit of every line finds (how `split` found them before it searched
    /// for markers): the reference the search is held to.
    fn segments_line_by_line(text: &str) -> Vec<Segment> {
        let bytes = text.as_bytes();
        let body_start = if text.starts_with('\u{feff}') { 3 } else { 0 };
        let (mut segments, mut seg_start, mut seg_line, mut after_marker) = (Vec::new(), body_start, 1, false);
        let mut line_start = body_start;
        for (line_no, line) in bytes[body_start..].split_inclusive(|&b| b == b'\n').enumerate() {
            let line_end = line_start + line.len();
            if is_marker(line, b"---") {
                push(&mut segments, text, seg_start, line_start, seg_line, after_marker);
                (seg_start, seg_line, after_marker) = (line_start + 3, line_no + 1, true);
            } else if is_marker(line, b"...") {
                push(&mut segments, text, seg_start, line_start, seg_line, after_marker);
                (seg_start, seg_line, after_marker) = (line_end, line_no + 2, false);
            }
            line_start = line_end;
        }
        push(&mut segments, text, seg_start, bytes.len(), seg_line, after_marker);
        segments
    }

    #[test]
    fn the_marker_search_finds_the_segments_of_a_line_by_line_scan() {
        const PIECES: &[&str] = &[
            "---",
            "...",
            "--- x",
            "---x",
            "...y",
            " ---",
            "a: b",
            "- ---",
            "# c",
            "",
            "\r",
            "%YAML 1.2",
            "-- -",
            "k: |",
            "  ---",
        ];
        // A fixed-seed linear congruential generator: thousands of streams, the same each run.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % n
        };
        for _ in 0..5_000 {
            let mut text = String::new();
            if next(8) == 0 {
                text.push('\u{feff}');
            }
            for _ in 0..next(12) {
                text.push_str(PIECES[next(PIECES.len())]);
                text.push_str(["\n", "\r\n", ""][next(3)]);
            }
            let stream = Stream::split(&text);
            assert_eq!(stream.segments, segments_line_by_line(&text), "{text:?}");
        }
    }

    fn contents(text: &str) -> Vec<&str> {
        let s = Stream::split(text);
        (0..s.segments.len()).filter(|&i| s.segments[i].has_content).map(|i| s.segment_text(i)).collect()
    }

    #[test]
    fn splits_helm3_style_stream() {
        let text = "---\n# Source: c/templates/a.yaml\na: 1\n---\n# Source: c/templates/b.yaml\nb: 2\n";
        assert_eq!(
            contents(text),
            vec!["\n# Source: c/templates/a.yaml\na: 1\n", "\n# Source: c/templates/b.yaml\nb: 2\n"]
        );
    }

    #[test]
    fn document_end_markers_and_bare_documents() {
        let text = "a: 1\n...\n---\nb: 2\n...\n# trailing comment\n";
        assert_eq!(contents(text), vec!["a: 1\n", "\nb: 2\n"]);
    }

    #[test]
    fn markers_need_a_break_after_them() {
        let text = "a: |\n  x\n----\nb: ---x\n--- # c\nc: 1\n";
        assert_eq!(contents(text), vec!["a: |\n  x\n----\nb: ---x\n", " # c\nc: 1\n"]);
    }

    #[test]
    fn comment_only_and_empty_documents_have_no_content() {
        let s = Stream::split("---\n# only a comment\n---\n---\n\n");
        assert_eq!(s.segments.len(), 3);
        assert!(s.segments.iter().all(|seg| !seg.has_content));
    }

    #[test]
    fn join_without_changes_is_identity() {
        for text in [
            "",
            "\u{feff}a: 1\r\n---\r\nb: 2\r\n",
            "---\na: 1\n...\n",
            "a: 1",
            "--- {\"a\": 1}\n--- {\"b\": 2}",
            "\n\n---\n\n---\n",
        ] {
            let s = Stream::split(text);
            let keep = vec![Replacement::Keep; s.segments.len()];
            assert_eq!(join(&s, &keep, &[]), text);
        }
    }

    #[test]
    fn join_replaces_removes_and_appends() {
        let text = "---\na: 1\n---\nkind: PostwireConfig\n---\nb: 2";
        let s = Stream::split(text);
        let reps = vec![Replacement::Text("\na: 2\n".into()), Replacement::Remove, Replacement::Keep];
        // The last line has no line break: the generated document goes before the last one.
        assert_eq!(join(&s, &reps, &["c: 3\n".into()]), "---\na: 2\n---\nc: 3\n---\nb: 2");
        let s = Stream::split("---\na: 1\n---\nb: 2\n");
        let keep = vec![Replacement::Keep; s.segments.len()];
        assert_eq!(join(&s, &keep, &["c: 3\n".into(), "d: 4".into()]), "---\na: 1\n---\nb: 2\n---\nc: 3\n---\nd: 4");
    }

    #[test]
    fn a_last_line_without_a_break_stays_last() {
        for (text, joined) in [
            // Without a marker of its own, the document gets one after the generated documents.
            ("a: |\n  x", "---\nc: 3\n---\na: |\n  x"),
            ("\u{feff}a: 1", "\u{feff}---\nc: 3\n---\na: 1"),
            ("a: 1\r\n--- # last\r\nb: |\r\n  x", "a: 1\r\n---\r\nc: 3\n--- # last\r\nb: |\r\n  x"),
            // `---` inside a line is not a marker.
            ("a: 1\n---\nb: x---y", "a: 1\n---\nc: 3\n---\nb: x---y"),
        ] {
            let s = Stream::split(text);
            let keep = vec![Replacement::Keep; s.segments.len()];
            assert_eq!(join(&s, &keep, &["c: 3\n".into()]), joined, "{text:?}");
        }
    }

    #[test]
    fn detects_crlf_and_filename_annotation() {
        let s = Stream::split("a: 1\r\n");
        assert!(s.crlf && s.newline() == "\r\n");
        let s = Stream::split("metadata:\n  annotations:\n    postrenderer.helm.sh/postrender-filename: x\n");
        assert!(s.uses_filename_annotation());
    }
}
