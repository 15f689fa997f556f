//! What the wirings' table tests share: a render request with a config file, and the render
//! a test expects to succeed and to change nothing when run again over its own output.

use crate::engine::RenderOutput;
use crate::wire::{ConfigFileV1, RenderRequestV1};

/// A request for `manifests` with `config` as the file `postwire.yaml`.
pub fn request(manifests: &str, config: &str) -> RenderRequestV1 {
    let mut request = RenderRequestV1::new(manifests);
    request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config.into() });
    request
}

/// The render of `request`, which must succeed and be idempotent: the same request over its
/// own output changes nothing.
pub fn render_idempotent(request: &RenderRequestV1) -> RenderOutput {
    let what = request.config.as_ref().map_or("", |c| c.content.as_str());
    let out = crate::render(request).unwrap_or_else(|e| panic!("{what}: {e}"));
    let again = crate::render(&RenderRequestV1 { manifests: out.manifests.clone(), ..request.clone() }).unwrap();
    assert_eq!(again.manifests, out.manifests, "not idempotent: {what}");
    out
}

/// The error message of a render that must fail.
pub fn render_err(request: &RenderRequestV1) -> String {
    crate::render(request).map(|o| o.manifests).unwrap_err().to_string()
}
