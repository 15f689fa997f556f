//! How many Kubernetes objects a stream holds, read from the parsed documents: what
//! `postwire argocd generate` checks before it lets Argo CD sync (an empty render would make a
//! sync with prune delete the whole application).

use crate::stream::Stream;
use crate::yaml::{NodeId, NodeKind, Tree};

/// The objects in `text`: documents that are mappings with a non-empty string `kind`, a `*List`
/// counting its `items` instead. A document that does not parse counts as none.
pub fn count(text: &str) -> usize {
    let stream = Stream::split(text);
    (0..stream.segments.len())
        .filter(|&i| stream.segments[i].has_content)
        .filter_map(|i| Tree::parse(stream.segment_text(i), 0).ok())
        .map(|tree| tree.root().map_or(0, |root| in_node(&tree, root)))
        .sum()
}

fn in_node(tree: &Tree, node: NodeId) -> usize {
    let node = tree.resolved(node);
    if !tree.is_mapping(node) {
        return 0;
    }
    let Some(kind) = tree.get(node, "kind").and_then(|k| tree.string(tree.resolved(k))) else {
        return 0;
    };
    if kind.trim().is_empty() {
        return 0;
    }
    if kind.ends_with("List") {
        if let Some(items) = tree.get(node, "items").map(|i| tree.resolved(i)) {
            if let NodeKind::Sequence { items, .. } = &tree.node(items).kind {
                return items.iter().map(|&item| in_node(tree, item)).sum();
            }
            return 0;
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_objects_not_lines_that_mention_kind() {
        assert_eq!(count("apiVersion: v1\nkind: ConfigMap\n"), 1);
        assert_eq!(count("{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\"}\n---\nkind: Service\n"), 2);
        assert_eq!(count(""), 0);
        assert_eq!(count("---\n# Source: x\n~\n---\n"), 0);
        assert_eq!(count("data:\n  kind: x\n"), 0);
        // What the line heuristic took for objects.
        assert_eq!(count("apiVersion: v1\nkind: List\nitems: []\n"), 0);
        assert_eq!(count("# kind: ConfigMap\n---\n# the \"kind\" of thing\n"), 0);
        assert_eq!(count("kind:\n"), 0);
        assert_eq!(count("kind: \"\"\n"), 0);
        assert_eq!(count("apiVersion: v1\nkind: List\nitems:\n- {kind: ConfigMap}\n- {kind: Secret}\n"), 2);
        assert_eq!(count("kind: [a]\n"), 0);
    }
}
