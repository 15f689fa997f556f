//! The README and every page under `docs/` are tested: every command block marked runnable is
//! run as written, in order (the README first, then the pages by path), by bash (`set -euo
//! pipefail`), in a fresh temporary HOME whose working directory holds the bundled example
//! (`examples/quickstart/chart` as `./chart`, its `postwire.yaml`) in place of a user's chart;
//! and every relative link resolves, to a file and to a heading. Markers, on the line before
//! the ```` ```sh ```` fence:
//!
//! - `<!-- runnable -->`: `helm` is Helm 4.3.1;
//! - `<!-- runnable: helm3 -->`: `helm` is Helm 3.17.3;
//! - `<!-- runnable: both -->`: `helm` is Helm 4.3.1 and `helm3` is Helm 3.17.3.
//!
//! Each marker kind gets its own machine (HOME, PATH); its blocks share it in page order, so
//! an install block is followed by the blocks that use it. `postwire` is the built runner.

use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, describe, TempDir};

/// The documentation pages, workspace-relative: `README.md`, then `docs/**/*.md` by path.
fn pages() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let root = util::workspace();
    let mut docs = Vec::new();
    walk(&root.join("docs"), &mut docs);
    docs.sort();
    std::iter::once(root.join("README.md"))
        .chain(docs)
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.strip_prefix(&root).unwrap().to_string_lossy().into_owned(), text)
        })
        .collect()
}

/// (marker kind, "page:line" of the fence, block text) over every page.
fn all_runnable_blocks() -> Vec<(String, String, String)> {
    pages()
        .iter()
        .flat_map(|(page, text)| {
            runnable_blocks(text).into_iter().map(move |(kind, line, block)| (kind, format!("{page}:{line}"), block))
        })
        .collect()
}

/// (marker kind, line of the fence, block text)
fn runnable_blocks(readme: &str) -> Vec<(String, usize, String)> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(kind) = line.strip_prefix("<!-- runnable").and_then(|r| r.strip_suffix("-->")) {
            let kind = kind.trim().trim_start_matches(':').trim();
            let kind = if kind.is_empty() { "helm4" } else { kind }.to_string();
            assert!(["helm4", "helm3", "both"].contains(&kind.as_str()), "line {}: unknown marker {line}", i + 1);
            assert_eq!(lines.get(i + 1).map(|l| l.trim()), Some("```sh"), "line {}: marker not before ```sh", i + 1);
            let start = i + 2;
            let end = (start..lines.len()).find(|&j| lines[j].trim() == "```").expect("closing fence");
            blocks.push((kind, i + 2, lines[start..end].join("\n") + "\n"));
            i = end;
        }
        i += 1;
    }
    blocks
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// The markers are where they belong: the quick-start commands (which would run the whole
/// suite) are not runnable, and every section a user pastes from has a runnable block: the
/// README's install step, each Helm setup in the Helm page, and the Argo CD step by hand.
#[test]
fn readme_marks_the_blocks_users_paste() {
    let blocks = all_runnable_blocks();
    assert!(blocks.iter().all(|(_, _, b)| !b.contains("scripts/test.sh") && !b.contains("scripts/demo.sh")));
    for kind in ["helm4", "helm3", "both"] {
        assert!(blocks.iter().any(|(k, _, _)| k == kind), "no `{kind}` block in the docs");
    }
    let on = |page: &str, what: &str| blocks.iter().any(|(_, at, b)| at.starts_with(page) && b.contains(what));
    assert!(on("README.md:", "postwire install-plugin"), "README install step not tested");
    assert!(on("docs/hosts/helm.md:", "--post-renderer postwire"), "Helm page not tested");
    assert!(on("docs/hosts/argocd.md:", "postwire argocd generate"), "Argo CD page not tested");
    assert!(on("docs/cli.md:", "postwire render"), "command-line page not tested");
}

/// A heading's anchor as GitHub renders it: lowercase, punctuation dropped, spaces to dashes.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Headings (outside code fences) as anchors, and the `](target)` links of the prose.
fn headings_and_links(text: &str) -> (BTreeSet<String>, Vec<(usize, String)>) {
    let (mut anchors, mut links, mut fence) = (BTreeSet::new(), Vec::new(), false);
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        if let Some(h) = line.strip_prefix('#') {
            anchors.insert(anchor(h.trim_start_matches('#')));
        }
        // Links outside inline code (`[a-z](x)` in a regular expression is not one).
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let tail = &rest[at + 2..];
            let end = tail.find(')').unwrap_or(tail.len());
            links.push((i + 1, tail[..end].to_string()));
            rest = &tail[end..];
        }
    }
    (anchors, links)
}

/// Every relative link of the README and the docs names a file of the repository, and every
/// `#fragment` a heading of its page: the split into pages moved text without breaking links.
#[test]
fn docs_links_resolve() {
    let root = util::workspace();
    let pages = pages();
    let mut broken = Vec::new();
    for (page, text) in &pages {
        let dir = Path::new(page).parent().unwrap();
        for (line, link) in headings_and_links(text).1 {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() { PathBuf::from(page) } else { normalize(&dir.join(path)) };
            if !root.join(&target).exists() {
                broken.push(format!("{page}:{line}: {link}: no such file"));
                continue;
            }
            if !fragment.is_empty() {
                let text = std::fs::read_to_string(root.join(&target)).unwrap_or_default();
                if !headings_and_links(&text).0.contains(fragment) {
                    broken.push(format!("{page}:{line}: {link}: no such heading"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every page under `docs/` is reachable from `docs/index.md`, and the index links only pages
/// that exist (checked by `docs_links_resolve`).
#[test]
fn docs_index_lists_every_page() {
    let pages = pages();
    let index = &pages.iter().find(|(p, _)| p == "docs/index.md").expect("docs/index.md").1;
    let linked: BTreeSet<String> = headings_and_links(index)
        .1
        .into_iter()
        .map(|(_, l)| normalize(&Path::new("docs").join(l.split('#').next().unwrap())).to_string_lossy().into_owned())
        .collect();
    let missing: Vec<&String> = pages
        .iter()
        .map(|(p, _)| p)
        .filter(|p| p.starts_with("docs/") && *p != "docs/index.md" && !linked.contains(*p))
        .collect();
    assert!(missing.is_empty(), "pages docs/index.md does not link: {missing:?}");
}

/// Every runnable block of the README and the docs succeeds as written.
#[test]
fn readme_runnable_blocks_run_as_written() {
    let test = "readme_runnable_blocks_run_as_written";
    let (Some(helm3), Some(helm4)) = (util::helm3(test), util::helm4(test)) else { return };
    let blocks = all_runnable_blocks();
    for kind in ["helm4", "helm3", "both"] {
        let machine = TempDir::new(&format!("{test}-{kind}"));
        let (home, bin, work) = (machine.join("home"), machine.join("bin"), machine.join("work"));
        for d in [&home, &bin, &work] {
            std::fs::create_dir_all(d).unwrap();
        }
        symlink(util::postwire_bin(), bin.join("postwire")).unwrap();
        match kind {
            "helm4" => symlink(&helm4, bin.join("helm")).unwrap(),
            "helm3" => symlink(&helm3, bin.join("helm")).unwrap(),
            _ => {
                symlink(&helm4, bin.join("helm")).unwrap();
                symlink(&helm3, bin.join("helm3")).unwrap();
            }
        }
        let example = util::workspace().join("examples/quickstart");
        copy_dir(&example.join("chart"), &work.join("chart"));
        std::fs::copy(example.join("postwire.yaml"), work.join("postwire.yaml")).unwrap();
        for (_, line, block) in blocks.iter().filter(|(k, _, _)| k == kind) {
            let script = machine.join("block.sh");
            std::fs::write(&script, format!("set -euo pipefail\nshopt -s expand_aliases\n{block}")).unwrap();
            let mut cmd = Command::new("bash");
            cmd.arg(&script).current_dir(&work).env_clear();
            cmd.env("HOME", &home).env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
            let out = util::run(&mut cmd, b"");
            assert!(out.status.success(), "block at {line} ({kind}) failed:\n{block}\n{}", describe(&out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !stderr.contains("failed to load plugin") && !stderr.contains("WARN"),
                "block at {line} ({kind}) made Helm complain:\n{block}\n{}",
                describe(&out)
            );
        }
    }
}
