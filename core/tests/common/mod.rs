//! Shared helpers of the engine's integration tests.

use std::path::PathBuf;

/// `../shared` beside the repository (the shared corpus, read in place), or None after saying
/// that `test` is skipped and why. With `POSTWIRE_REQUIRE_ALL=1` (set by `scripts/test.sh`) a
/// missing corpus fails the test instead.
pub fn shared(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    if dir.join("corpus").is_dir() {
        return Some(dir);
    }
    let why = format!("{} is absent (the shared corpus sits beside the repository)", dir.display());
    if std::env::var("POSTWIRE_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("{test}: required (POSTWIRE_REQUIRE_ALL=1) but cannot run: {why}");
    }
    eprintln!("skipped {test} because {why}");
    // The test harness captures stderr of passing tests: the test command counts skips from here.
    if let Some(path) = std::env::var_os("POSTWIRE_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut log) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(log, "skipped {test} because {why}");
        }
    }
    None
}
