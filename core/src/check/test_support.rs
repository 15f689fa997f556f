//! Table tests of rules: run the whole check over a small stream and keep one rule's findings.

use super::{check, Level};

/// The (level, object) of each finding of `rule` over `stream` (objects without a namespace
/// go to `app`).
pub fn found(stream: &str, rule: &str) -> Vec<(Level, String)> {
    check(stream, Some("app"))
        .expect("the stream parses")
        .into_iter()
        .filter(|f| f.rule == rule)
        .map(|f| (f.level, f.object))
        .collect()
}

/// Run a table: each case is (name, stream, expected level of the one finding or none).
pub fn table(rule: &str, cases: &[(&str, String, Option<Level>)]) {
    for (name, stream, expected) in cases {
        let got: Vec<Level> = found(stream, rule).into_iter().map(|(l, _)| l).collect();
        let want: Vec<Level> = expected.iter().copied().collect();
        assert_eq!(got, want, "{rule}: case {name}");
    }
}
