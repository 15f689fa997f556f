//! The tree of an edited document without parsing all of it again: only the regions the
//! edit changed are parsed, and the rest of the old tree is moved into place.
//!
//! A region is the text of one node whose change the edit carries out, from its first token
//! to the first token after it: a block collection (from its first key, or its first item's
//! dash, to the next line that holds a token less indented), the outermost flow collection
//! around a change, or a scalar replaced on its own line. Parsed alone — padded to its column,
//! so indentation reads as written — a region gives the nodes a parse of the whole document
//! gives it: its end is the next token in both, so nothing after it is read differently, and
//! nothing before it can change how it reads. Outside the regions only offsets and lines move.
//!
//! This is the fast path; the whole parse stays the reference. Documents with anchors,
//! aliases or directives, changes of the root mapping, and splices outside their region take
//! the whole parse. A render checks each tree built this way against a whole parse once, at
//! its end ([`crate::workspace::Workspace::check_reparsed`]), and runs again with whole parses
//! should one differ; tests compare the two after every edit ([`set_compare_each`]).

use std::cell::Cell;
use std::collections::HashMap;

use super::ranges::{dash_of, is_flow, line_start};
use super::{DocRef, Plan, Splice};
use crate::yaml::{Node, NodeId, NodeKind, Style, Tree};

thread_local! {
    static COMPARE_EACH: Cell<bool> = const { Cell::new(false) };
    static WHOLE_ONLY: Cell<bool> = const { Cell::new(false) };
    static COUNTS: Cell<Counts> = const { Cell::new(Counts { regions: 0, whole: 0, differed: 0 }) };
}

/// How edited documents got their trees on this thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// By parsing the changed regions.
    pub regions: usize,
    /// By parsing the whole document.
    pub whole: usize,
    /// Trees built from regions that a whole parse did not give (each makes its render run
    /// again parsing whole; none is expected), and, with each edit compared, trees written
    /// beside generated documents that a parse of their text does not give.
    pub differed: usize,
}

/// The counts so far on this thread (for tests and the benchmark).
#[doc(hidden)]
pub fn counts() -> Counts {
    COUNTS.with(Cell::get)
}

fn add(f: impl FnOnce(&mut Counts)) {
    COUNTS.with(|c| {
        let mut n = c.get();
        f(&mut n);
        c.set(n);
    });
}

/// Count one tree built one way or the other.
pub(crate) fn count(by_regions: bool) {
    add(|n| if by_regions { n.regions += 1 } else { n.whole += 1 });
}

/// Count a tree built from regions that a whole parse does not give.
pub(crate) fn count_difference() {
    add(|n| n.differed += 1);
}

/// Make every edit on this thread compare the tree built from its regions with a whole parse
/// at once, so that a difference is found at the edit that made it.
#[doc(hidden)]
pub fn set_compare_each(on: bool) {
    COMPARE_EACH.with(|c| c.set(on));
}

/// Whether every edit compares its regions' tree with a whole parse.
pub(crate) fn compare_each() -> bool {
    COMPARE_EACH.with(Cell::get)
}

/// Make renders on this thread parse every edited document whole (the reference the tests
/// hold renders through regions to).
#[doc(hidden)]
pub fn set_whole_only(on: bool) {
    WHOLE_ONLY.with(|c| c.set(on));
}

/// Whether renders on this thread parse edited documents whole only.
pub(crate) fn whole_only() -> bool {
    WHOLE_ONLY.with(Cell::get)
}

/// One region of the old text and what takes its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Region {
    /// The node replaced, or the collection lines are added to.
    node: NodeId,
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The node's text, parsed alone, replaces it.
    Node,
    /// A value replaced on its line (its tag, if any, is inside the region).
    Inline,
    /// Whole lines of new entries or items added to a block collection at `start` (an
    /// insertion): parsed alone, their root's children join the collection at `index`.
    Lines {
        index: usize,
        /// For lines added after a line's content: where in the added text its first token
        /// is. Block collections open before the insertion point end there now (their end
        /// was the next token, which now is that one).
        first_token: Option<usize>,
    },
}

/// How to make the tree of `new_text`, the text `edits` (from [`Plan::render_owned`]) make of
/// `doc`, from `doc`'s tree and its changed regions parsed alone ([`Rebuild::apply`]); None
/// where the whole document must be parsed.
pub fn reparse(plan: &Plan, doc: DocRef<'_>, edits: &[(NodeId, Splice)], new_text: &str) -> Option<Rebuild> {
    let (text, tree) = (doc.text, doc.tree);
    // A byte order mark is no column to the parser: padding by characters would count it. A
    // block scalar with no content lines, and the empty value of an explicit key, have spans
    // the moves below do not describe.
    if edits.is_empty()
        || tree.has_aliases()
        || tree.has_anchors()
        || has_directive(text)
        || has_explicit_key(text)
        || text.contains('\u{feff}')
        || (0..tree.len()).any(|id| is_empty_block_scalar(tree, id))
    {
        return None;
    }
    let (regions, assigned) = regions_of(plan, doc, edits)?;
    // What each region adds, in bytes and in lines: the splices assigned to it.
    let grown: Vec<(isize, isize)> = regions
        .iter()
        .map(|r| {
            let mut grown = (0isize, 0isize);
            for ((_, s), _) in edits.iter().zip(&assigned).filter(|(_, a)| *a == r) {
                grown.0 += s.text.len() as isize - (s.end - s.start) as isize;
                grown.1 += count_lines(&s.text) as isize - count_lines(&text[s.start..s.end]) as isize;
            }
            grown
        })
        .collect();
    // Where each region starts in the new text: after what the regions before it added.
    let new_starts: Vec<usize> = regions
        .iter()
        .zip(&grown)
        .scan(0isize, |added, (r, &(b, _))| {
            let start = r.start.saturating_add_signed(*added);
            *added += b;
            Some(start)
        })
        .collect();
    let holds = holders(tree, &regions)?;
    let mut rebuild = Rebuild {
        regions,
        grown,
        new_starts,
        holds,
        replaced: HashMap::new(),
        added: HashMap::new(),
        restart: HashMap::new(),
        named: vec![false; tree.len()],
    };
    rebuild.parse_regions(doc, new_text)?;
    Some(rebuild)
}

/// The regions the edits fall in, in text order (a node region takes in every region inside
/// its node), and the region of each edit; None where they do not describe the new text.
fn regions_of(plan: &Plan, doc: DocRef<'_>, edits: &[(NodeId, Splice)]) -> Option<(Vec<Region>, Vec<Region>)> {
    let tree = doc.tree;
    let owned = edits.iter().map(|(owner, splice)| region_of(plan, doc, *owner, splice)).collect::<Option<Vec<_>>>()?;
    // The outermost node region holding a region (one inside another is taken in whole).
    let holds = |o: &Region, r: &Region| o.kind == Kind::Node && *o != *r && contains(tree, o.node, r.node);
    let holder =
        |r: &Region| owned.iter().filter(|o| holds(o, r)).find(|o| !owned.iter().any(|outer| holds(outer, o))).copied();
    let mut regions: Vec<Region> = Vec::new();
    let mut assigned: Vec<Region> = Vec::with_capacity(edits.len());
    for (r, (_, splice)) in owned.iter().zip(edits) {
        let r = holder(r).unwrap_or(*r);
        if splice.start < r.start || splice.end > r.end {
            return None;
        }
        assigned.push(r);
        if !regions.contains(&r) {
            regions.push(r);
        }
    }
    // Stable: regions at one offset keep the order of their splices, as the text does.
    regions.sort_by_key(|r| (r.start, r.end));
    // Two insertions at one offset (an inner collection's lines, then an outer's): the inner
    // one's end lands between them, which the moves do not describe.
    if regions.windows(2).any(|w| w[0].start == w[1].start && w[0].start == w[0].end && w[1].start == w[1].end) {
        return None;
    }
    // Regions parsed again must not overlap (each one's growth counts its own splices).
    let parsed: Vec<&Region> = regions.iter().filter(|r| !matches!(r.kind, Kind::Lines { .. })).collect();
    if parsed.windows(2).any(|w| w[0].end > w[1].start) {
        return None;
    }
    // Lines added inside another region's text (an outer collection's new item after an
    // inner one that is parsed again): that region's text would hold them.
    let inside = |p: usize| regions.iter().any(|r| r.start <= p && p < r.end);
    if regions.iter().any(|r| matches!(r.kind, Kind::Lines { .. }) && inside(r.start)) || regions.len() > 64 {
        return None;
    }
    Some((regions, assigned))
}

/// By node, one bit per insertion region: set for the collection the lines are added to and
/// every node that holds it (their ends grow, their starts stay). None where a scalar is open
/// across an insertion point after a line's content (a block scalar's last line break), which
/// the moves do not describe.
fn holders(tree: &Tree, regions: &[Region]) -> Option<Vec<u64>> {
    let mut holds = vec![0u64; tree.len()];
    for (i, r) in regions.iter().enumerate().filter(|(_, r)| matches!(r.kind, Kind::Lines { .. })) {
        let mut at = Some(r.node);
        while let Some(n) = at {
            holds[n] |= 1 << i;
            at = tree.node(n).parent;
        }
    }
    for (i, r) in regions.iter().enumerate() {
        if !matches!(r.kind, Kind::Lines { first_token: Some(_), .. }) {
            continue;
        }
        let scalar_open_across = (0..tree.len()).any(|id| {
            let n = tree.node(id);
            // A block scalar's span ends with its last line break, at the end of a text without
            // one exactly at the insertion point.
            let block_scalar = matches!(n.kind, NodeKind::Scalar { style: Style::Literal | Style::Folded, .. });
            n.start < r.start
                && (n.end > r.start || (block_scalar && n.end == r.start))
                && holds[id] & (1 << i) == 0
                && matches!(n.kind, NodeKind::Scalar { .. })
        });
        if scalar_open_across {
            return None;
        }
    }
    Some(holds)
}

/// How [`Rebuild::apply`] makes the tree of the edited text from the old one: the regions
/// parsed alone, and how every other node moves.
#[derive(Debug)]
pub struct Rebuild {
    regions: Vec<Region>,
    /// What each region adds, in bytes and lines.
    grown: Vec<(isize, isize)>,
    /// Where each region starts in the new text.
    new_starts: Vec<usize>,
    /// By old node, one bit per insertion region it holds (the collection or a parent).
    holds: Vec<u64>,
    /// Subtrees replaced by a region parsed alone, by old node.
    replaced: HashMap<NodeId, Tree>,
    /// Children added to a collection: (index among its old children, a fragment whose root's
    /// entries or items they are), by old collection.
    added: HashMap<NodeId, Vec<(usize, Tree)>>,
    /// A new (start, line, column) for an old node whose start is its first child's.
    restart: HashMap<NodeId, (usize, usize, usize)>,
    /// By old node: whether one of the three maps above names it.
    named: Vec<bool>,
}

impl Rebuild {
    /// The tree of the edited text, made of `old` (moved, not copied) and the regions' trees.
    /// Ids come in document order, as a parse of the new text gives them.
    pub fn apply(mut self, old: Tree) -> Tree {
        let (mut nodes, root) = old.into_parts();
        // Room for every node the new tree can have, so that it never regrows (a regrowth
        // doubles it, and the render keeps every tree); the spare part is given back below.
        let new_nodes = self.added.values().flatten().map(|(_, t)| t.len()).sum::<usize>()
            + self.replaced.values().map(Tree::len).sum::<usize>();
        let mut out = Vec::with_capacity(nodes.len() + new_nodes);
        let root = root.map(|r| self.move_old(&mut nodes, r, None, None, &mut out));
        out.shrink_to_fit();
        Tree::from_parts(out, root)
    }

    /// Parse each region's text alone, where the regions before it left it in `new_text`.
    fn parse_regions(&mut self, doc: DocRef<'_>, new_text: &str) -> Option<()> {
        let (text, tree) = (doc.text, doc.tree);
        let mut lines_before = 0isize;
        for i in 0..self.regions.len() {
            let (r, (bytes, lines), start) = (self.regions[i], self.grown[i], self.new_starts[i]);
            let end = (r.end + start - r.start).saturating_add_signed(bytes).min(new_text.len());
            let line = line_at(text, tree, r.node, r.start).saturating_add_signed(lines_before);
            lines_before += lines;
            let col = text[line_start(text, r.start)..r.start].chars().count();
            let mut sub = Tree::parse_region(new_text, start, end, line, col).ok()?;
            let root = sub.root()?;
            if sub.has_aliases() || sub.has_anchors() || !same_shape(tree, r.node, &sub, root, r.kind) {
                return None;
            }
            self.named[r.node] = true;
            let Kind::Lines { index, first_token } = r.kind else {
                self.replaced.insert(r.node, in_context(doc, &r, sub, new_text)?);
                continue;
            };
            if first_token.is_some() {
                // Added after a line's content: block collections open at the end of the new
                // lines end at the next token after them, as the old ones did.
                let next = end + (next_token(text, r.start) - r.start);
                sub.extend_open_ends(end, next);
            }
            // A block sequence written at its key's indentation starts at its first item (see
            // `in_context`): new first items move its start to theirs.
            if indentless(doc, r.node)? && index == 0 {
                let first = *sub.items(root).first()?;
                self.restart.insert(r.node, plain_item_start(new_text, &sub, first)?);
            }
            self.added.entry(r.node).or_default().push((index, sub));
        }
        Some(())
    }

    fn holding(&self, id: NodeId, region: usize) -> bool {
        self.holds[id] & (1 << region) != 0
    }

    /// The new offset of old node `id`'s start or end (`pos`), and the lines added before it.
    fn moved(&self, id: NodeId, node: &Node, pos: usize, is_end: bool) -> (usize, isize) {
        let (mut bytes, mut lines) = (0isize, 0isize);
        for (i, (r, &(b, l))) in self.regions.iter().zip(&self.grown).enumerate() {
            if let Kind::Lines { first_token: Some(first), .. } = r.kind {
                // A block collection open across the insertion point (its end was the next
                // token after it, or the end of the text) now ends at the new lines' first.
                let block =
                    matches!(node.kind, NodeKind::Mapping { flow: false, .. } | NodeKind::Sequence { flow: false, .. });
                if is_end && pos >= r.start && !self.holding(id, i) && node.start < r.start && block {
                    return (self.new_starts[i] + first, 0);
                }
            }
            // What moves past an insertion: for the collections holding the lines, their ends
            // (their starts are before it); lines added after a line's content move what comes
            // after that point (a node ending or empty at it stays before); lines added at the
            // start of a child's line move the child there, and what ends there stays.
            let after = match r.kind {
                Kind::Lines { .. } if self.holding(id, i) => is_end && pos >= r.start,
                Kind::Lines { first_token: Some(_), .. } => pos > r.start,
                Kind::Lines { .. } if is_end => pos > r.start,
                _ => pos >= r.end,
            };
            if after {
                bytes += b;
                lines += l;
            }
        }
        (pos.saturating_add_signed(bytes), lines)
    }

    /// Move old node `id` and its subtree to the end of `out` (a replaced one: its region's
    /// tree), linked to `parent` as the value of `key`; returns its new id.
    fn move_old(
        &mut self,
        from: &mut [Node],
        id: NodeId,
        parent: Option<NodeId>,
        key: Option<NodeId>,
        out: &mut Vec<Node>,
    ) -> NodeId {
        let named = self.named[id];
        if let Some(sub) = named.then(|| self.replaced.remove(&id)).flatten() {
            let (mut nodes, root) = sub.into_parts();
            return move_as_is(&mut nodes, root.expect("a region's tree has a root"), parent, key, out);
        }
        let mut n = take(&mut from[id]);
        let (start, lines) = self.moved(id, &n, n.start, false);
        let (end, _) = self.moved(id, &n, n.end, true);
        (n.start, n.line) = (start, n.line.saturating_add_signed(lines));
        n.end = end;
        if let Some(&(start, line, col)) = named.then(|| self.restart.get(&id)).flatten() {
            (n.start, n.line, n.col) = (start, line, col);
        }
        (n.parent, n.key) = (parent, key);
        let kind = std::mem::replace(&mut n.kind, NodeKind::Alias);
        let new_id = out.len();
        out.push(n);
        let mut added = named.then(|| self.added.remove(&id)).flatten().unwrap_or_default();
        out[new_id].kind = match children(kind) {
            Children::Leaf(kind) => kind,
            // The added children at each index, then the old child there.
            Children::Of { mapping, flow, pairs } => {
                let mut moved = Vec::with_capacity(pairs.len());
                for index in 0..=pairs.len() {
                    for (_, fragment) in added.iter_mut().filter(|(at, _)| *at == index) {
                        let (mut nodes, root) = std::mem::take(fragment).into_parts();
                        let root = root.expect("a fragment has a root");
                        let Children::Of { pairs: new, .. } = children(take(&mut nodes[root]).kind) else {
                            unreachable!("checked: the lines are a collection's children")
                        };
                        for (k, v) in new {
                            let k = k.map(|k| move_as_is(&mut nodes, k, Some(new_id), None, out));
                            moved.push((k, move_as_is(&mut nodes, v, Some(new_id), k, out)));
                        }
                    }
                    if let Some(&(k, v)) = pairs.get(index) {
                        let k = k.map(|k| self.move_old(from, k, Some(new_id), None, out));
                        moved.push((k, self.move_old(from, v, Some(new_id), k, out)));
                    }
                }
                collection(mapping, flow, moved)
            }
        };
        new_id
    }
}

/// A node's children as (key, value) pairs (a sequence's items have no key), or the node's
/// kind itself for a scalar or an alias.
enum Children {
    Leaf(NodeKind),
    Of { mapping: bool, flow: bool, pairs: Vec<(Option<NodeId>, NodeId)> },
}

fn children(kind: NodeKind) -> Children {
    match kind {
        NodeKind::Mapping { flow, entries } => {
            Children::Of { mapping: true, flow, pairs: entries.into_iter().map(|(k, v)| (Some(k), v)).collect() }
        }
        NodeKind::Sequence { flow, items } => {
            Children::Of { mapping: false, flow, pairs: items.into_iter().map(|i| (None, i)).collect() }
        }
        leaf => Children::Leaf(leaf),
    }
}

/// The collection of these children (see [`children`]).
fn collection(mapping: bool, flow: bool, pairs: Vec<(Option<NodeId>, NodeId)>) -> NodeKind {
    if mapping {
        NodeKind::Mapping { flow, entries: pairs.into_iter().filter_map(|(k, v)| Some((k?, v))).collect() }
    } else {
        NodeKind::Sequence { flow, items: pairs.into_iter().map(|(_, v)| v).collect() }
    }
}

/// A node taken out of its tree (an alias with no position stays in its place).
fn take(node: &mut Node) -> Node {
    std::mem::replace(
        node,
        Node {
            kind: NodeKind::Alias,
            start: 0,
            end: 0,
            line: 0,
            col: 0,
            anchor: 0,
            tag: None,
            parent: None,
            key: None,
        },
    )
}

/// Move node `id` of a region's tree and its subtree to the end of `out` unchanged but for
/// their ids, linked to `parent` as the value of `key`; returns its new id.
fn move_as_is(
    from: &mut [Node],
    id: NodeId,
    parent: Option<NodeId>,
    key: Option<NodeId>,
    out: &mut Vec<Node>,
) -> NodeId {
    let mut n = take(&mut from[id]);
    (n.parent, n.key) = (parent, key);
    let kind = std::mem::replace(&mut n.kind, NodeKind::Alias);
    let new_id = out.len();
    out.push(n);
    out[new_id].kind = match children(kind) {
        Children::Leaf(kind) => kind,
        Children::Of { mapping, flow, pairs } => {
            let mut moved = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                let k = k.map(|k| move_as_is(from, k, Some(new_id), None, out));
                moved.push((k, move_as_is(from, v, Some(new_id), k, out)));
            }
            collection(mapping, flow, moved)
        }
    };
    new_id
}

/// The region an edit of `owner` falls in, before nesting is considered.
fn region_of(plan: &Plan, doc: DocRef<'_>, owner: NodeId, splice: &Splice) -> Option<Region> {
    let (text, tree) = (doc.text, doc.tree);
    let one_line = |s: &str| !s.contains(['\n', '\r']);
    let node = tree.node(owner);
    // Whole lines added to a block collection.
    if !plan.replaces(owner) && splice.start == splice.end && !in_flow(tree, owner) {
        if let Some(index) = lines_index(text, tree, owner, splice) {
            let first_token =
                splice.text.starts_with(['\n', '\r']).then(|| splice.text.find(|c: char| !c.is_whitespace())).flatten();
            let kind = Kind::Lines { index, first_token };
            return Some(Region { node: owner, start: splice.start, end: splice.start, kind });
        }
    }
    // A value replaced on its own line, outside flow notation: the value alone.
    if plan.replaces(owner)
        && !in_flow(tree, owner)
        && one_line(&splice.text)
        && one_line(&text[splice.start..splice.end])
        && matches!(
            node.kind,
            NodeKind::Scalar { .. } | NodeKind::Mapping { flow: true, .. } | NodeKind::Sequence { flow: true, .. }
        )
    {
        return Some(Region { node: owner, start: splice.start, end: splice.end, kind: Kind::Inline });
    }
    // A collection changed, or the one that holds a replaced value; in flow notation the
    // outermost flow collection; widened to a parent until the splice fits.
    let mut node = if plan.replaces(owner) { tree.node(owner).parent? } else { owner };
    if let Some(flow) = outermost_flow(tree, node) {
        node = flow;
    }
    loop {
        tree.node(node).parent?; // the root: the whole document
        let (start, end) = bounds(doc, node)?;
        if splice.start >= start && splice.end <= end {
            return Some(Region { node, start, end, kind: Kind::Node });
        }
        node = tree.node(node).parent?;
    }
}

/// Where an insertion of whole lines into the block collection `id` puts them among its old
/// children: after a line's content (the text starts with a line break), or at the start of
/// a child's line (only indentation before it; the text ends with a line break and that
/// indentation). None for any other insertion.
fn lines_index(text: &str, tree: &Tree, id: NodeId, splice: &Splice) -> Option<usize> {
    let starts: Vec<usize> = match &tree.node(id).kind {
        NodeKind::Mapping { flow: false, entries } => entries.iter().map(|&(k, _)| tree.node(k).start).collect(),
        NodeKind::Sequence { flow: false, items } => {
            items.iter().map(|&i| dash_of(text, tree, i)).collect::<Option<Vec<usize>>>()?
        }
        _ => return None,
    };
    let p = splice.start;
    let new = &splice.text;
    let at_line_end = p == text.len() || text[p..].starts_with(['\n', '\r']);
    let after = new.starts_with(['\n', '\r']) && at_line_end;
    let before_child = starts.contains(&p) && text[line_start(text, p)..p].bytes().all(|b| b == b' ') && {
        let indent = p - line_start(text, p);
        new.ends_with(&format!("\n{}", " ".repeat(indent)))
    };
    (after || before_child).then(|| starts.iter().filter(|&&s| s < p).count())
}

/// What the region's node gets from its context in a whole parse: a tag written before the
/// region (`key: !!map` then the mapping's lines), and, for a block sequence written at its
/// key's indentation (see [`indentless`]), its first item's start. None where that start is
/// not the plain case.
fn in_context(doc: DocRef<'_>, r: &Region, mut sub: Tree, new_text: &str) -> Option<Tree> {
    let old = doc.tree.node(r.node);
    let root = sub.root()?;
    if r.kind == Kind::Node && sub.node(root).tag.is_none() && old.tag.is_some() {
        sub.node_mut(root).tag = old.tag.clone();
    }
    if r.kind == Kind::Node && indentless(doc, r.node)? {
        let first = *sub.items(root).first()?;
        let (start, line, col) = plain_item_start(new_text, &sub, first)?;
        let n = sub.node_mut(root);
        (n.start, n.line, n.col) = (start, line, col);
    }
    Some(sub)
}

/// Whether `id` is a block sequence written at its key's indentation (`key:` then `- item` at
/// the key's column): the parser starts it at the first token after its first dash, not at the
/// dash. Of such sequences only those whose first item is plain are rebuilt (None otherwise).
fn indentless(doc: DocRef<'_>, id: NodeId) -> Option<bool> {
    let (text, tree) = (doc.text, doc.tree);
    let node = tree.node(id);
    if !matches!(node.kind, NodeKind::Sequence { flow: false, .. }) {
        return Some(false);
    }
    let first = *tree.items(id).first()?;
    if dash_of(text, tree, first)? == node.start {
        return Some(false);
    }
    // Its start is its first item's, as the rebuild sets it.
    (plain_item_start(text, tree, first)?.0 == node.start).then_some(true)
}

/// The start, line and column of a sequence item that starts on its dash's line with no tag
/// (`- name: x`): where an indentless sequence holding it first starts. None otherwise (a
/// tag, a comment or a line break after the dash moves that start elsewhere).
fn plain_item_start(text: &str, tree: &Tree, item: NodeId) -> Option<(usize, usize, usize)> {
    let n = tree.node(item);
    let dash = dash_of(text, tree, item)?;
    let plain = n.tag.is_none() && n.anchor == 0 && !text[dash..n.start].contains(['\n', '\r', '#']);
    plain.then_some((n.start, n.line, n.col))
}

/// A collection's region: from its first token (a block sequence's first dash) to its end.
fn bounds(doc: DocRef<'_>, id: NodeId) -> Option<(usize, usize)> {
    let node = doc.tree.node(id);
    match &node.kind {
        NodeKind::Sequence { flow: false, items } => Some((dash_of(doc.text, doc.tree, *items.first()?)?, node.end)),
        NodeKind::Mapping { .. } | NodeKind::Sequence { .. } => Some((node.start, node.end)),
        _ => None,
    }
}

/// The outermost flow collection that is `id` or holds it.
fn outermost_flow(tree: &Tree, id: NodeId) -> Option<NodeId> {
    let mut found = None;
    let mut at = Some(id);
    while let Some(n) = at {
        if is_flow(tree, n) {
            found = Some(n);
        }
        at = tree.node(n).parent;
    }
    found
}

fn in_flow(tree: &Tree, id: NodeId) -> bool {
    outermost_flow(tree, tree.node(id).parent.unwrap_or(id)).is_some()
}

/// Whether `outer` is `inner` or holds it.
fn contains(tree: &Tree, outer: NodeId, inner: NodeId) -> bool {
    let mut at = Some(inner);
    while let Some(n) = at {
        if n == outer {
            return true;
        }
        at = tree.node(n).parent;
    }
    false
}

/// A region parsed alone is the same kind of node as the one it replaces, or the lines it
/// adds are children of the same kind of collection (a collection stays one of the same
/// notation; a replaced scalar may become anything).
fn same_shape(tree: &Tree, old: NodeId, sub: &Tree, root: NodeId, kind: Kind) -> bool {
    if kind == Kind::Inline {
        return true;
    }
    match (&tree.node(old).kind, &sub.node(root).kind) {
        (NodeKind::Mapping { flow: a, .. }, NodeKind::Mapping { flow: b, .. }) => a == b,
        (NodeKind::Sequence { flow: a, .. }, NodeKind::Sequence { flow: b, .. }) => a == b,
        (NodeKind::Scalar { .. }, _) => true,
        _ => false,
    }
}

/// The line (in the stream, as the tree counts them) of byte `pos`, counted from node
/// `near`'s line.
fn line_at(text: &str, tree: &Tree, near: NodeId, pos: usize) -> usize {
    let n = tree.node(near);
    if pos <= n.start {
        n.line - count_lines(&text[pos..n.start])
    } else {
        n.line + count_lines(&text[n.start..pos])
    }
}

/// The offset of the first token at or after `pos`: past blanks, line breaks and comments.
fn next_token(text: &str, mut pos: usize) -> usize {
    let bytes = text.as_bytes();
    while pos < bytes.len() {
        match bytes[pos] {
            b' ' | b'\t' | b'\n' | b'\r' => pos += 1,
            b'#' => pos = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i),
            _ => break,
        }
    }
    pos
}

/// Whether node `id` is a block scalar (`|`, `>`) with no content.
fn is_empty_block_scalar(tree: &Tree, id: NodeId) -> bool {
    matches!(&tree.node(id).kind, NodeKind::Scalar { value, style: Style::Literal | Style::Folded } if value.is_empty())
}

/// Line breaks in `s` (`\r\n` counts once, as a lone `\r` does not: the layer refuses
/// documents with YAML 1.1-only breaks).
fn count_lines(s: &str) -> usize {
    memchr::memchr_iter(b'\n', s.as_bytes()).count()
}

/// Whether the document may hold an explicit key (`? key`): a `?` followed by white space or
/// the end (inside a quoted string too, which only costs a whole parse). An explicit key with
/// no value has an empty value at the next token after it, wherever lines added after it put
/// that token.
fn has_explicit_key(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'?', bytes).any(|i| matches!(bytes.get(i + 1), None | Some(b' ' | b'\t' | b'\n' | b'\r')))
}

/// Whether a line of the document starts with `%` (a directive, which applies to the whole
/// document: a region parsed alone would not see it).
fn has_directive(text: &str) -> bool {
    text.starts_with('%') || memchr::memmem::find(text.as_bytes(), b"\n%").is_some()
}
