//! What the engine is working on, for a host that can stop it from outside.
//!
//! plugin.wasm's host enforces a wall-clock timeout and a memory cap by trapping the module: the
//! engine never sees those failures, so it cannot name where they struck. A host that wants to
//! say so installs a reporter; the engine tells it each step (a document parsed, a wiring, a
//! template, a patch), and the host names the last one when a call traps. Without a reporter
//! (the playground, native use) a step costs one check and builds no text.
//!
//! Steps name documents by number, kind, name and line, never by their contents, so no Secret
//! value is ever in one.

use std::sync::OnceLock;

static REPORTER: OnceLock<fn(&str)> = OnceLock::new();

/// Send every later step to `report` (the first reporter set stays).
pub fn set_reporter(report: fn(&str)) {
    let _ = REPORTER.set(report);
}

/// Tell the reporter, if any, that the engine is now `what()` ("parsing document 3 …").
#[inline]
pub fn step(what: impl FnOnce() -> String) {
    if let Some(report) = REPORTER.get() {
        report(&what());
    }
}
