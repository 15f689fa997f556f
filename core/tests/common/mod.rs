//! Shared helpers of the engine's integration tests.

use std::path::PathBuf;

/// `../shared` beside the repository (the shared corpus, read in place), or None after saying
/// that `test` is skipped and why. With `POSTWIRE_REQUIRE_ALL=1` (set by `scripts/test.sh`) a
/// missing corpus fails the test instead.
#[allow(dead_code)] // not every test binary using this module reads the corpus
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

/// The corpus streams under `shared`: `corpus/streams/*` then `corpus/rendered/*`, each
/// folder sorted by name.
#[allow(dead_code)] // not every test binary using this module reads the corpus
pub fn corpus_files(shared: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["streams", "rendered"] {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(shared.join("corpus").join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        files.extend(entries);
    }
    files
}

/// The documents of a rendered stream as Kubernetes reads them (empty documents left out).
#[allow(dead_code)] // not every test binary using this module reads documents
pub fn documents(stream: &str) -> Vec<serde_json::Value> {
    let split = postwire_core::stream::Stream::split(stream);
    (0..split.segments.len())
        .filter_map(|i| {
            let tree = postwire_core::yaml::Tree::parse(split.segment_text(i), 0).unwrap();
            tree.root().map(|root| postwire_core::model::json(&tree, root))
        })
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The document of `kind` named `name` in a rendered stream.
#[allow(dead_code)]
pub fn document(stream: &str, kind: &str, name: &str) -> serde_json::Value {
    documents(stream)
        .into_iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} is not in the output:\n{stream}"))
}

/// The fastest of three runs of `f` (the least disturbed by other work on the machine), for
/// the tests that judge ratios of times.
#[allow(dead_code)] // only the timed tests use it
pub fn fastest(mut f: impl FnMut()) -> std::time::Duration {
    (0..3)
        .map(|_| {
            let start = std::time::Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap()
}
