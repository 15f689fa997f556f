//! A plan's overlay turned into splices of the original text.

use std::collections::BTreeMap;

use super::ranges::{
    colon_after, column, content_end, dash_of, flow_properties_start, is_explicit_key, line_start, starts_line, step_at,
};
use super::{internal, Change, DocRef, Slot, Splice, Value};
use crate::emit::{self, block_body, block_entries, block_item};
use crate::error::{Error, Result};
use crate::yaml::{NodeId, NodeKind};

pub(super) fn splices(changes: &BTreeMap<NodeId, Change>, doc: DocRef<'_>, newline: &str) -> Result<Vec<Splice>> {
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
    for (&id, change) in order {
        match change {
            Change::Replace(value) => out.push(replace(doc, id, value, newline)?),
            Change::Map { added, removed } => map(doc, id, added, removed, newline, &mut out)?,
            Change::Seq(slots) => seq(doc, id, slots, newline, &mut out)?,
        }
    }
    Ok(out)
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

fn map(
    doc: DocRef<'_>,
    id: NodeId,
    added: &[(String, Value)],
    removed: &[NodeId],
    newline: &str,
    out: &mut Vec<Splice>,
) -> Result<()> {
    let (text, tree) = (doc.text, doc.tree);
    let entries = tree.entries(id);
    let flags: Vec<bool> = entries.iter().map(|(k, _)| removed.contains(k)).collect();
    if added.is_empty() && removed.is_empty() {
        return Ok(());
    }
    let NodeKind::Mapping { flow, .. } = tree.node(id).kind else {
        return Err(internal("a mapping change on a non-mapping"));
    };
    if flags.iter().all(|&r| r) {
        // Nothing of the old mapping stays: write it anew (`{}` when nothing is added either).
        if entries.is_empty() {
            let n = tree.node(id);
            out.push(Splice { start: n.start, end: n.end, text: emit::flow(&Value::Map(added.to_vec())) });
            return Ok(());
        }
        out.push(replace(doc, id, &Value::Map(added.to_vec()), newline)?);
        return Ok(());
    }
    let starts: Vec<usize> = entries
        .iter()
        .map(|&(k, _)| if flow { flow_properties_start(text, tree.node(k).start) } else { tree.node(k).start })
        .collect();
    let ends: Vec<usize> = entries.iter().map(|&(_, v)| content_end(text, tree, v)).collect();
    if !flow {
        for (i, &r) in flags.iter().enumerate() {
            let next_ok = entries
                .get(i + 1)
                .is_none_or(|&(k, _)| starts_line(text, tree.node(k).start) && !is_explicit_key(text, tree, k));
            if r && (!starts_line(text, starts[i]) || is_explicit_key(text, tree, entries[i].0) || !next_ok) {
                return Err(refuse_layout(doc, entries[i].0));
            }
        }
    }
    removals(text, !flow, &starts, &ends, &flags, out);
    if added.is_empty() {
        return Ok(());
    }
    let first_key = entries[0].0;
    let at = starts[0];
    if flow {
        let mut new = String::new();
        for (k, v) in added {
            new.push_str(&emit::key(k, true));
            new.push_str(": ");
            new.push_str(&emit::flow(v));
            new.push_str(", ");
        }
        out.push(Splice { start: at, end: at, text: new });
        return Ok(());
    }
    let col = column(text, at);
    let lines = block_entries(added, col, step_at(tree, first_key));
    // New entries go before the first key that starts its own line, so no existing line
    // changes; a mapping whose only line is a sequence item's (`- name: web`) gets them after.
    let own_line = entries.iter().position(|&(k, _)| {
        let s = tree.node(k).start;
        text[line_start(text, s)..s].bytes().all(|b| b == b' ')
    });
    let mut new = String::new();
    match own_line.map(|i| (i, starts[i])) {
        Some((i, _)) if is_explicit_key(text, tree, entries[i].0) => return Err(refuse_layout(doc, entries[i].0)),
        Some((_, at)) if column(text, at) == col => {
            for (i, line) in lines.iter().enumerate() {
                new.push_str(if i == 0 { &line[col..] } else { line });
                new.push_str(newline);
            }
            new.push_str(&" ".repeat(col));
            out.push(Splice { start: at, end: at, text: new });
        }
        _ if starts_line(text, at) => {
            let at = after_line(text, *ends.last().expect("a block mapping has entries"));
            for line in &lines {
                new.push_str(newline);
                new.push_str(line);
            }
            out.push(Splice { start: at, end: at, text: new });
        }
        _ => return Err(refuse_layout(doc, first_key)),
    }
    Ok(())
}

fn seq(doc: DocRef<'_>, id: NodeId, slots: &[Slot], newline: &str, out: &mut Vec<Splice>) -> Result<()> {
    let (text, tree) = (doc.text, doc.tree);
    let items = tree.items(id);
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
    if kept.is_empty() {
        let values: Vec<Value> = slots
            .iter()
            .filter_map(|s| match s {
                Slot::New(v) => Some(v.clone()),
                Slot::Old(_) => None,
            })
            .collect();
        out.push(replace(doc, id, &Value::Seq(values), newline)?);
        return Ok(());
    }
    let flow = is_flow(doc, id);
    let mut starts = Vec::with_capacity(items.len());
    for &item in items {
        starts.push(if flow {
            flow_properties_start(text, tree.node(item).start)
        } else {
            dash_of(text, tree, item).ok_or_else(|| refuse_layout(doc, item))?
        });
    }
    let ends: Vec<usize> = items.iter().map(|&i| content_end(text, tree, i)).collect();
    let flags: Vec<bool> = items.iter().map(|i| !kept.contains(i)).collect();
    removals(text, !flow, &starts, &ends, &flags, out);

    let col = if flow { 0 } else { column(text, starts[0]) };
    let step = tree.node(id).key.map_or(2, |k| step_at(tree, k));
    let mut pending: Vec<&Value> = Vec::new();
    for slot in slots {
        match slot {
            Slot::New(v) => pending.push(v),
            Slot::Old(o) => {
                if pending.is_empty() {
                    continue;
                }
                let idx = items.iter().position(|i| i == o).expect("an old slot is an item");
                let at = starts[idx];
                let mut new = String::new();
                for (n, v) in pending.drain(..).enumerate() {
                    if flow {
                        new.push_str(&emit::flow(v));
                        new.push_str(", ");
                    } else {
                        // The existing item's indentation precedes the first new line only.
                        for (i, line) in block_item(v, col, step).iter().enumerate() {
                            new.push_str(if i == 0 && n == 0 { &line[col..] } else { line });
                            new.push_str(newline);
                        }
                    }
                }
                if !flow {
                    new.push_str(&" ".repeat(col));
                    if line_start(text, at) + col != at {
                        return Err(refuse_layout(doc, *o));
                    }
                }
                out.push(Splice { start: at, end: at, text: new });
            }
        }
    }
    if !pending.is_empty() {
        let last = *kept.last().expect("kept is not empty");
        let end = content_end(text, tree, last);
        let at = if flow { end } else { after_line(text, end) };
        let mut new = String::new();
        for v in pending {
            if flow {
                new.push_str(", ");
                new.push_str(&emit::flow(v));
            } else {
                for line in block_item(v, col, step) {
                    new.push_str(newline);
                    new.push_str(&line);
                }
            }
        }
        out.push(Splice { start: at, end: at, text: new });
    }
    Ok(())
}

fn is_flow(doc: DocRef<'_>, id: NodeId) -> bool {
    matches!(doc.tree.node(id).kind, NodeKind::Mapping { flow: true, .. } | NodeKind::Sequence { flow: true, .. })
}
