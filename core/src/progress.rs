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

use std::cell::Cell;
use std::sync::OnceLock;

static REPORTER: OnceLock<fn(&str)> = OnceLock::new();

thread_local! {
    /// The wiring the engine is running: later steps are part of it.
    static WIRING: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Send every later step to `report` (the first reporter set stays).
pub fn set_reporter(report: fn(&str)) {
    let _ = REPORTER.set(report);
}

/// Steps from now on are part of wiring `name` ("running the istio wiring"), or of none.
pub fn wiring(name: Option<&'static str>) {
    WIRING.with(|w| w.set(name));
    if let (Some(report), Some(name)) = (REPORTER.get(), name) {
        report(&format!("running the {name} wiring"));
    }
}

/// Tell the reporter, if any, that the engine is now `what()` ("parsing document 3 …"), with
/// the wiring it is part of.
#[inline]
pub fn step(what: impl FnOnce() -> String) {
    if let Some(report) = REPORTER.get() {
        let mut text = what();
        if let Some(name) = WIRING.with(Cell::get) {
            text.push_str(", running the ");
            text.push_str(name);
            text.push_str(" wiring");
        }
        report(&text);
    }
}
