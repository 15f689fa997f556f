//! The last step plugin.wasm reported, to name where a timeout or the memory cap stopped it.
//!
//! The module sends each step of a render as a trace-level extism log line (`postwire step: …`,
//! see plugin/src/lib.rs). extism hands plugin log lines to `tracing` (runtime/src/pdk.rs `log`,
//! target `extism::pdk`, at extism commit 7230657) only when the global level admits them, and
//! the module asks that level before building a line; so this subscriber admits trace events of
//! that target alone and keeps the last step of the calling thread (a call runs on its caller's
//! thread). Nothing else is logged or printed.

use std::cell::RefCell;
use std::sync::OnceLock;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Level, LevelFilter, Metadata, Subscriber};

const TARGET: &str = "extism::pdk";
const PREFIX: &str = "postwire step: ";

thread_local! {
    static LAST: RefCell<String> = const { RefCell::new(String::new()) };
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Start listening (once per process); whether steps are collected. Where another subscriber
/// was installed first, they are not, and limit errors say less.
pub fn listen() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| tracing_core::dispatcher::set_global_default(tracing_core::Dispatch::new(Steps)).is_ok())
}

/// Forget this thread's last step (before a call).
pub fn clear() {
    LAST.with(|last| last.borrow_mut().clear());
}

/// This thread's last step since [`clear`], if any (`adding generated document 12, running the
/// rollouts wiring`).
pub fn last() -> Option<String> {
    LAST.with(|last| Some(last.borrow().clone()).filter(|s| !s.is_empty()))
}

struct Steps;

fn is_step_event(metadata: &Metadata<'_>) -> bool {
    metadata.is_event() && metadata.target() == TARGET && *metadata.level() == Level::TRACE
}

impl Subscriber for Steps {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if is_step_event(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        is_step_event(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }

    fn event(&self, event: &Event<'_>) {
        event.record(&mut StepVisitor);
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

struct StepVisitor;

impl Visit for StepVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() != "message" {
            return;
        }
        SCRATCH.with(|line| {
            let mut line = line.borrow_mut();
            line.clear();
            let _ = write!(line, "{value:?}");
            if let Some(step) = line.strip_prefix(PREFIX) {
                LAST.with(|last| {
                    let mut last = last.borrow_mut();
                    last.clear();
                    last.push_str(step);
                });
            }
        });
    }
}
