//! Wirings: each one a module with one struct built from its config, run by [`pipeline`] in a
//! fixed order (generate → mutate → patch → checksums last, so hashes see the final content).

pub mod checksum;
pub mod istio;

use crate::config::PostwireConfig;
use crate::error::Result;
use crate::report::Report;
use crate::wire::ContextV1;
use crate::workspace::Workspace;

/// One wiring.
pub trait Wiring {
    /// Its name in reports (`checksum`).
    fn name(&self) -> &'static str;
    /// The document kinds it needs parsed (everything else stays unparsed bytes).
    fn kinds(&self) -> Vec<String>;
    /// Plan edits in the workspace and record what it did (the engine commits them).
    fn apply(&self, ws: &mut Workspace<'_>, report: &mut Report) -> Result<()>;
}

/// The enabled wirings, in the order they run.
pub fn pipeline(config: &PostwireConfig, context: &ContextV1) -> Vec<Box<dyn Wiring>> {
    let mut wirings: Vec<Box<dyn Wiring>> = Vec::new();
    wirings.extend(istio::wirings(config, context));
    if config.checksum.enabled {
        wirings.push(Box::new(checksum::Checksum::new(config, context)));
    }
    wirings
}
