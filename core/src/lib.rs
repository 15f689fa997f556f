//! # postwire-core
//!
//! The postwire engine: it finishes rendered Kubernetes manifests (a Helm or kustomize output
//! stream) by wiring them for the platform they run on, without losing a byte of what it does not
//! change.
//!
//! The engine is pure: no I/O, no clocks, no randomness. Hosts (the extism plugin, the native
//! runner, the browser playground) hand it a [`wire::RenderRequestV1`] and get a
//! [`wire::RenderResponseV1`] back through [`render_response`] (or a [`RenderOutput`] through
//! [`render`]), whatever the request holds: a manifest stream or a KRM `ResourceList`.
//!
//! ## How a render works
//!
//! 1. [`stream`] splits the input into documents, keeping every byte (separators, comments, BOM).
//! 2. [`resource`] peeks at each document cheaply and parses only those a wiring needs.
//! 3. [`pipeline`] resolves the `PostwireConfig` (assembled from the wirings' own sections) from
//!    a file, an in-stream document and `--set`, with [`config`]'s generic machinery.
//! 4. The [`wiring`]s run in the pipeline's fixed order. Each finds its objects through [`workload`] and
//!    plans edits in the [`workspace`]: one [`edit::Plan`] per document, carried out once per
//!    wiring; new documents come from [`generate`].
//! 5. Untouched documents are emitted as their original bytes; edited ones as edited text.
//! 6. [`check`] reads the finished stream (through the trees the render holds) and reports what
//!    would break once applied.
//!
//! ## Fidelity
//!
//! Edits are splices into the original text (see [`edit`]): the diff of a changed document is
//! exactly the lines a wiring adds or replaces. New text comes from [`emit`], which quotes
//! every string a YAML 1.1 or 1.2 reader could take for something else.
#![deny(missing_docs)]

pub mod argocd;
pub mod check;
pub mod config;
pub mod digest;
pub mod edit;
pub mod emit;
pub mod engine;
pub mod error;
pub mod generate;
pub mod jinja;
pub mod json;
pub mod krm;
pub mod model;
pub mod names;
pub mod objects;
pub mod parsed;
pub mod pipeline;
pub mod platform;
pub mod progress;
pub mod redact;
pub mod report;
pub mod resource;
pub mod select;
pub mod stream;
pub mod testing;
pub mod vars;
pub mod wire;
pub mod wiring;
pub mod workload;
pub mod workspace;
pub mod yaml;

pub use engine::RenderOutput;
pub use error::{Error, ErrorKind};

use wire::{InputFormat, RenderRequestV1, RenderResponseV1};

/// Render a request by what its manifests hold ([`InputFormat`]): a KRM `ResourceList`
/// through [`krm`], a manifest stream through [`engine`]. The one entry point every host uses.
pub fn render(request: &RenderRequestV1) -> Result<RenderOutput, Error> {
    let resource_list = match request.input {
        InputFormat::Manifests => false,
        InputFormat::ResourceList => true,
        InputFormat::Auto => krm::is_resource_list(&request.manifests),
    };
    // Each path scrubs Secret values from its errors and report exactly once.
    if resource_list {
        krm::render_resource_list(request)
    } else {
        engine::render_stream(request)
    }
}

/// [`render`], as the response message the plugin's `render` export returns.
pub fn render_response(request: &RenderRequestV1) -> Result<RenderResponseV1, Error> {
    let out = render(request)?;
    Ok(RenderResponseV1::new(out.manifests, out.report))
}

/// The postwire version, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
