//! Every rule of `postwire check` is in the README's rule table and in docs/check.md's, and
//! neither table names a rule the code does not have. The rule ids are read from the
//! `pub const NAME: &str = "rule-id";` lines of core/src/check/*.rs (the rule modules).

use std::collections::BTreeSet;
use std::path::Path;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Rule ids declared in the check's rule modules.
fn rules_in_code() -> BTreeSet<String> {
    let mut rules = BTreeSet::new();
    for entry in std::fs::read_dir(workspace().join("core/src/check")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        // mod.rs holds the annotation and the wiring name, index.rs and the test support no rules.
        if ["mod.rs", "index.rs", "test_support.rs"].contains(&name.as_str()) {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("pub const ").filter(|l| l.contains(": &str = \"")) {
                let id = rest.split('"').nth(1).unwrap();
                rules.insert(id.to_string());
            }
        }
    }
    rules
}

/// The rule ids in the first column of the Markdown table after the header `| rule` or
/// `| rule id` in `file`.
fn rules_in_table(file: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(workspace().join(file)).unwrap();
    let mut lines = text.lines().skip_while(|l| !(l.starts_with("| rule |") || l.starts_with("| rule id |")));
    assert!(lines.next().is_some(), "{file} has no rule table");
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.split('|').nth(1).unwrap().trim().trim_matches('`').to_string())
        .collect()
}

#[test]
fn every_rule_is_in_the_readme_and_the_check_page() {
    let code = rules_in_code();
    assert!(code.len() >= 15, "found only {code:?}");
    for file in ["README.md", "docs/check.md"] {
        assert_eq!(rules_in_table(file), code, "the rule table of {file} and the rules of core/src/check differ");
    }
}
