//! The README is tested: every command block marked runnable is run as written, in order, by
//! bash (`set -euo pipefail`), in a fresh temporary HOME whose working directory holds the
//! bundled example (`examples/quickstart/chart` as `./chart`, its `postwire.yaml`) in place of
//! a user's chart. Markers, on the line before the ```` ```sh ```` fence:
//!
//! - `<!-- runnable -->`: `helm` is Helm 4.3.1;
//! - `<!-- runnable: helm3 -->`: `helm` is Helm 3.17.3;
//! - `<!-- runnable: both -->`: `helm` is Helm 4.3.1 and `helm3` is Helm 3.17.3.
//!
//! Each marker kind gets its own machine (HOME, PATH); its blocks share it in README order, so
//! an install block is followed by the blocks that use it. `postwire` is the built runner.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use crate::util::{self, describe, TempDir};

/// (marker kind, README line of the fence, block text)
fn runnable_blocks(readme: &str) -> Vec<(String, usize, String)> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(kind) = line.strip_prefix("<!-- runnable").and_then(|r| r.strip_suffix("-->")) {
            let kind = kind.trim().trim_start_matches(':').trim();
            let kind = if kind.is_empty() { "helm4" } else { kind }.to_string();
            assert!(
                ["helm4", "helm3", "both"].contains(&kind.as_str()),
                "README line {}: unknown marker {line}",
                i + 1
            );
            assert_eq!(
                lines.get(i + 1).map(|l| l.trim()),
                Some("```sh"),
                "README line {}: marker not before ```sh",
                i + 1
            );
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
/// suite) are not runnable, and every section a user pastes from has a runnable block.
#[test]
fn readme_marks_the_blocks_users_paste() {
    let readme = std::fs::read_to_string(util::workspace().join("README.md")).unwrap();
    let blocks = runnable_blocks(&readme);
    assert!(blocks.iter().all(|(_, _, b)| !b.contains("scripts/test.sh") && !b.contains("scripts/demo.sh")));
    for kind in ["helm4", "helm3", "both"] {
        assert!(blocks.iter().any(|(k, _, _)| k == kind), "no `{kind}` block in the README");
    }
    assert!(blocks.iter().any(|(_, _, b)| b.contains("postwire install-plugin")), "install step not tested");
}

/// Every runnable README block succeeds as written.
#[test]
fn readme_runnable_blocks_run_as_written() {
    let test = "readme_runnable_blocks_run_as_written";
    let (Some(helm3), Some(helm4)) = (util::helm3(test), util::helm4(test)) else { return };
    let readme = std::fs::read_to_string(util::workspace().join("README.md")).unwrap();
    let blocks = runnable_blocks(&readme);
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
            assert!(out.status.success(), "README block at line {line} ({kind}) failed:\n{block}\n{}", describe(&out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !stderr.contains("failed to load plugin") && !stderr.contains("WARN"),
                "README block at line {line} ({kind}) made Helm complain:\n{block}\n{}",
                describe(&out)
            );
        }
    }
}
