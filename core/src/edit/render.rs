//! A plan's overlay turned into splices of the original text.

use std::collections::BTreeMap;

use super::ranges::{
    colon_after, column, content_end, dash_of, flow_properties_start, is_explicit_key, is_flow, line_start,
    starts_line, step_at,
};
use super::{internal, Change, DocRef, Slot, Splice, Value};
use crate::emit::{self, block_body, block_entries, block_item};
use crate::error::{Error, Result};
use crate::yaml::{NodeId, NodeKind};

/// The splices, each with the node whose change it carries out.
pub(super) fn splices(
    changes: &BTreeMap<NodeId, Change>,
    doc: DocRef<'_>,
    newline: &str,
) -> Result<Vec<(NodeId, Splice)>> {
    // Deeper nodes first: where an inner and an outer insertion land at one offset (a new key
    // at the end of the last item, and a new item after it), the inner text comes first, and
    // splices at one offset keep their order.
    let depth = |mut id: NodeId| {
        let mut d = 0;
        while let Some(p) = doc.tree.node(id).parent {
            d += 1;
            id = p;
        }
        d
    };
    let mut order: Vec<(&NodeId, &Change)> = changes.iter().collect();
    order.sort_by_key(|(&id, _)| std::cmp::Reverse(depth(id)));
    let mut out = Vec::new();
    let mut owners = Vec::new();
    for (&id, change) in order {
        match change {
            Change::Replace(value) => out.push(replace(doc, id, value, newline)?),
            Change::Map { added, removed } => map(doc, id, added, removed, newline, &mut out)?,
            Change::Seq(slots) => seq(doc, id, slots, newline, &mut out)?,
        }
        owners.resize(out.len(), id);
    }
    Ok(owners.into_iter().zip(out).collect())
}

fn refuse_layout(doc: DocRef<'_>, at: NodeId) -> Error {
    let n = doc.tree.node(at);
    Error::uneditable("the mapping uses a layout postwire does not edit (an explicit `? key`, or a key after other content on its line)")
        .at(n.line, n.col + 1)
}

/// The indentation step for children of the collection `id`.
fn step_of(doc: DocRef<'_>, id: NodeId) -> usize {
    let tree = doc.tree;
    if let Some(&(k, _)) = tree.entries(id).first() {
        return step_at(tree, k);
    }
    tree.node(id).key.map_or(2, |k| step_at(tree, k))
}

/// Lines joined with line breaks, each after the first already indented.
fn join(lines: &[String], newline: &str) -> String {
    lines.join(newline)
}

/// Where new lines go after content ending at `pos`: the end of that line when only blanks or
/// a comment follow (the comment stays on its line), else `pos`.
fn after_line(text: &str, pos: usize) -> usize {
    let end = text[pos..].find(['\r', '\n']).map_or(text.len(), |i| pos + i);
    let rest = text[pos..end].trim();
    if rest.is_empty() || rest.starts_with('#') {
        end
    } else {
        pos
    }
}

/// Replace the node `id` with `value`, at its normalized value range.
fn replace(doc: DocRef<'_>, id: NodeId, value: &Value, newline: &str) -> Result<Splice> {
    let (text, tree) = (doc.text, doc.tree);
    let node = tree.node(id);
    let Some(parent) = node.parent else {
        return Err(internal("the document root cannot be replaced"));
    };
    let end = content_end(text, tree, id);
    match tree.node(parent).kind {
        NodeKind::Mapping { flow, .. } => {
            let key = node.key.ok_or_else(|| internal("a mapping value without its key"))?;
            let colon = colon_after(text, tree.node(key).end).ok_or_else(|| refuse_layout(doc, key))?;
            let mut start = colon + 1;
            // A new collection goes on lines of its own where the old value had no text of its
            // own on the key's line (`key:` empty, or a block collection); a written scalar such
            // as `~` is replaced on its line, in flow style, so the diff stays one line.
            let old_is_block = tree.is_empty_scalar(id)
                || matches!(node.kind, NodeKind::Mapping { flow: false, .. } | NodeKind::Sequence { flow: false, .. });
            let block = !flow && is_collection(value) && old_is_block;
            if block {
                // Keep a comment after `key:`; the new lines go after it.
                let line_end = text[start..].find(['\r', '\n']).map_or(text.len(), |i| start + i);
                let rest = text[start..line_end].trim_start();
                if rest.is_empty() || rest.starts_with('#') {
                    start = line_end;
                }
            }
            let end = end.max(start);
            let new = if block {
                let key_col = column(text, tree.node(key).start);
                format!("{newline}{}", join(&block_body(value, key_col, step_at(tree, key)), newline))
            } else {
                format!(" {}", emit::flow(value))
            };
            Ok(Splice { start, end, text: new })
        }
        NodeKind::Sequence { flow: false, .. } => {
            let dash = dash_of(text, tree, id).ok_or_else(|| refuse_layout(doc, id))?;
            let start = dash + 1;
            let col = column(text, dash);
            let lines = block_item(value, col, step_of(doc, parent));
            let first = &lines[0][col + 1..];
            let mut new = first.to_string();
            for line in &lines[1..] {
                new.push_str(newline);
                new.push_str(line);
            }
            Ok(Splice { start, end: end.max(start), text: new })
        }
        _ => Ok(Splice { start: node.start, end, text: emit::flow(value) }),
    }
}

fn is_collection(v: &Value) -> bool {
    matches!(v, Value::Map(m) if !m.is_empty()) || matches!(v, Value::Seq(s) if !s.is_empty())
}

/// Splices removing the entries or items flagged in `removed`, given where each starts and
/// where its content ends. An entry with a kept one after it goes up to that one's start; a
/// run at the end goes from the end of the last kept one — in block notation from the end of
/// its line to the end of the last removed line, so a comment there leaves with its entry and
/// nothing joins the kept entry's line (which may be a block scalar's content).
fn removals(text: &str, block: bool, starts: &[usize], ends: &[usize], removed: &[bool], out: &mut Vec<Splice>) {
    let Some(last_kept) = removed.iter().rposition(|r| !r) else {
        return;
    };
    for i in 0..last_kept {
        if removed[i] {
            out.push(Splice { start: starts[i], end: starts[i + 1], text: String::new() });
        }
    }
    if last_kept + 1 < removed.len() {
        let (mut start, mut end) = (ends[last_kept], ends[removed.len() - 1]);
        if block {
            let line_end = |p: usize| text[p..].find(['\r', '\n']).map_or(text.len(), |i| p + i);
            (start, end) = (line_end(start), line_end(end));
        }
        out.push(Splice { start, end, text: String::new() });
    }
}

/// Where a collection's children are in the text: each child's start (an entry's key or an
/// item's dash, or in flow notation its first property) and the end of its content.
struct Spans {
    flow: bool,
    starts: Vec<usize>,
    ends: Vec<usize>,
}

/// Splices for a mapping's removed keys and added entries (added ones go first, see
/// [`block_entries_at`]). A mapping left with no old entry is written anew.
fn map(
    doc: DocRef<'_>,
    id: NodeId,
    added: &[(String, Value)],
    removed: &[NodeId],
    newline: &str,
    out: &mut Vec<Splice>,
) -> Result<()> {
    if added.is_empty() && removed.is_empty() {
        return Ok(());
    }
    let tree = doc.tree;
    let entries = tree.entries(id);
    let NodeKind::Mapping { flow, .. } = tree.node(id).kind else {
        return Err(internal("a mapping change on a non-mapping"));
    };
    let flags: Vec<bool> = entries.iter().map(|(k, _)| removed.contains(k)).collect();
    if flags.iter().all(|&r| r) {
        out.push(rewrite_map(doc, id, added, newline)?);
        return Ok(());
    }
    let spans = entry_spans(doc, entries, flow);
    if !flow {
        check_block_removals(doc, entries, &spans.starts, &flags)?;
    }
    removals(doc.text, !flow, &spans.starts, &spans.ends, &flags, out);
    if added.is_empty() {
        return Ok(());
    }
    out.push(if flow {
        flow_entries_at(spans.starts[0], added)
    } else {
        block_entries_at(doc, entries, &spans, added, newline)?
    });
    Ok(())
}

/// Nothing of the old mapping stays: write it anew (`{}` when nothing is added either).
fn rewrite_map(doc: DocRef<'_>, id: NodeId, added: &[(String, Value)], newline: &str) -> Result<Splice> {
    let value = Value::Map(added.to_vec());
    if doc.tree.entries(id).is_empty() {
        let node = doc.tree.node(id);
        return Ok(Splice { start: node.start, end: node.end, text: emit::flow(&value) });
    }
    replace(doc, id, &value, newline)
}

/// Where a mapping's entries start and end.
fn entry_spans(doc: DocRef<'_>, entries: &[(NodeId, NodeId)], flow: bool) -> Spans {
    let (text, tree) = (doc.text, doc.tree);
    let starts = entries
        .iter()
        .map(|&(k, _)| if flow { flow_properties_start(text, tree.node(k).start) } else { tree.node(k).start })
        .collect();
    let ends = entries.iter().map(|&(_, v)| content_end(text, tree, v)).collect();
    Spans { flow, starts, ends }
}

/// A block entry is removed whole lines at a time: it, and the entry after it, must start their
/// own lines with a plain key (not `? key`), else the removal would cut a line in two.
fn check_block_removals(doc: DocRef<'_>, entries: &[(NodeId, NodeId)], starts: &[usize], flags: &[bool]) -> Result<()> {
    let (text, tree) = (doc.text, doc.tree);
    for (i, &r) in flags.iter().enumerate() {
        let next_ok = entries
            .get(i + 1)
            .is_none_or(|&(k, _)| starts_line(text, tree.node(k).start) && !is_explicit_key(text, tree, k));
        if r && (!starts_line(text, starts[i]) || is_explicit_key(text, tree, entries[i].0) || !next_ok) {
            return Err(refuse_layout(doc, entries[i].0));
        }
    }
    Ok(())
}

/// New flow entries, written before the first old one (`{new: v, old: w}`).
fn flow_entries_at(at: usize, added: &[(String, Value)]) -> Splice {
    let mut new = String::new();
    for (k, v) in added {
        new.push_str(&emit::key(k, true));
        new.push_str(": ");
        new.push_str(&emit::flow(v));
        new.push_str(", ");
    }
    Splice { start: at, end: at, text: new }
}

/// New block entries go before the first key that starts its own line, so no existing line
/// changes; a mapping whose only line is a sequence item's (`- name: web`) gets them after.
fn block_entries_at(
    doc: DocRef<'_>,
    entries: &[(NodeId, NodeId)],
    spans: &Spans,
    added: &[(String, Value)],
    newline: &str,
) -> Result<Splice> {
    let (text, tree) = (doc.text, doc.tree);
    let first_key = entries[0].0;
    let at = spans.starts[0];
    let col = column(text, at);
    let lines = block_entries(added, col, step_at(tree, first_key));
    let own_line = entries.iter().position(|&(k, _)| {
        let s = tree.node(k).start;
        text[line_start(text, s)..s].bytes().all(|b| b == b' ')
    });
    let mut new = String::new();
    match own_line.map(|i| (i, spans.starts[i])) {
        Some((i, _)) if is_explicit_key(text, tree, entries[i].0) => Err(refuse_layout(doc, entries[i].0)),
        Some((_, at)) if column(text, at) == col => {
            push_lines_before(&mut new, &lines, col, newline);
            new.push_str(&" ".repeat(col));
            Ok(Splice { start: at, end: at, text: new })
        }
        _ if starts_line(text, at) => {
            let at = after_line(text, *spans.ends.last().expect("a block mapping has entries"));
            push_lines_after(&mut new, &lines, newline);
            Ok(Splice { start: at, end: at, text: new })
        }
        _ => Err(refuse_layout(doc, first_key)),
    }
}

/// Lines that go before existing text at column `cut`: that text's indentation already precedes
/// the first line, so it starts `cut` columns in; every line ends with a line break.
fn push_lines_before(new: &mut String, lines: &[String], cut: usize, newline: &str) {
    for (i, line) in lines.iter().enumerate() {
        new.push_str(if i == 0 { &line[cut..] } else { line });
        new.push_str(newline);
    }
}

/// Lines that go after existing content: each starts with a line break.
fn push_lines_after(new: &mut String, lines: &[String], newline: &str) {
    for line in lines {
        new.push_str(newline);
        new.push_str(line);
    }
}

/// A sequence's items and where they are, with the indentation new block items get.
struct SeqLayout<'a> {
    items: &'a [NodeId],
    spans: Spans,
    /// The column of the first item's dash (0 in flow notation).
    col: usize,
    /// The indentation step for the items' children.
    step: usize,
}

/// Splices for a sequence's new item list: removed items go, and each run of new items goes
/// before the old item that follows it, or after the last kept one. A sequence left with no old
/// item is written anew.
fn seq(doc: DocRef<'_>, id: NodeId, slots: &[Slot], newline: &str, out: &mut Vec<Splice>) -> Result<()> {
    let items = doc.tree.items(id);
    let unchanged =
        slots.len() == items.len() && slots.iter().zip(items).all(|(s, &i)| matches!(s, Slot::Old(o) if *o == i));
    if unchanged {
        return Ok(());
    }
    let kept: Vec<NodeId> = slots
        .iter()
        .filter_map(|s| match s {
            Slot::Old(o) => Some(*o),
            Slot::New(_) => None,
        })
        .collect();
    let Some(&last_kept) = kept.last() else {
        out.push(replace(doc, id, &Value::Seq(new_items(slots)), newline)?);
        return Ok(());
    };
    let layout = seq_layout(doc, id)?;
    let flags: Vec<bool> = items.iter().map(|i| !kept.contains(i)).collect();
    removals(doc.text, !layout.spans.flow, &layout.spans.starts, &layout.spans.ends, &flags, out);
    let mut pending: Vec<&Value> = Vec::new();
    for slot in slots {
        match slot {
            Slot::New(v) => pending.push(v),
            Slot::Old(o) if !pending.is_empty() => {
                out.push(items_before(doc, &layout, *o, &pending, newline)?);
                pending.clear();
            }
            Slot::Old(_) => {}
        }
    }
    if !pending.is_empty() {
        out.push(items_after(doc, &layout, last_kept, &pending, newline));
    }
    Ok(())
}

/// The values of the new slots (all of them, when no old item stays).
fn new_items(slots: &[Slot]) -> Vec<Value> {
    slots
        .iter()
        .filter_map(|s| match s {
            Slot::New(v) => Some(v.clone()),
            Slot::Old(_) => None,
        })
        .collect()
}

/// Where the items of the sequence `id` are; a block item whose dash cannot be found is refused.
fn seq_layout(doc: DocRef<'_>, id: NodeId) -> Result<SeqLayout<'_>> {
    let (text, tree) = (doc.text, doc.tree);
    let items = tree.items(id);
    let flow = is_flow(doc.tree, id);
    let mut starts = Vec::with_capacity(items.len());
    for &item in items {
        starts.push(if flow {
            flow_properties_start(text, tree.node(item).start)
        } else {
            dash_of(text, tree, item).ok_or_else(|| refuse_layout(doc, item))?
        });
    }
    let ends = items.iter().map(|&i| content_end(text, tree, i)).collect();
    let col = if flow { 0 } else { column(text, starts[0]) };
    let step = tree.node(id).key.map_or(2, |k| step_at(tree, k));
    Ok(SeqLayout { items, spans: Spans { flow, starts, ends }, col, step })
}

/// New items before the old item `old`, which must start its own line in block notation (its
/// indentation then precedes the first new line).
fn items_before(
    doc: DocRef<'_>,
    layout: &SeqLayout<'_>,
    old: NodeId,
    values: &[&Value],
    newline: &str,
) -> Result<Splice> {
    let (text, col) = (doc.text, layout.col);
    let idx = layout.items.iter().position(|&i| i == old).expect("an old slot is an item");
    let at = layout.spans.starts[idx];
    let mut new = String::new();
    for (n, v) in values.iter().enumerate() {
        if layout.spans.flow {
            new.push_str(&emit::flow(v));
            new.push_str(", ");
        } else {
            push_lines_before(&mut new, &block_item(v, col, layout.step), if n == 0 { col } else { 0 }, newline);
        }
    }
    if !layout.spans.flow {
        new.push_str(&" ".repeat(col));
        if line_start(text, at) + col != at {
            return Err(refuse_layout(doc, old));
        }
    }
    Ok(Splice { start: at, end: at, text: new })
}

/// New items after the last kept item `last` (in block notation after its line's comment).
fn items_after(doc: DocRef<'_>, layout: &SeqLayout<'_>, last: NodeId, values: &[&Value], newline: &str) -> Splice {
    let end = content_end(doc.text, doc.tree, last);
    let at = if layout.spans.flow { end } else { after_line(doc.text, end) };
    let mut new = String::new();
    for v in values {
        if layout.spans.flow {
            new.push_str(", ");
            new.push_str(&emit::flow(v));
        } else {
            push_lines_after(&mut new, &block_item(v, layout.col, layout.step), newline);
        }
    }
    Splice { start: at, end: at, text: new }
}
