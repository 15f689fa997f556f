//! KRM ResourceLists: any UTF-8 text through `postwire krm`'s path. It never panics; when it
//! succeeds the output is one ResourceList again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_core::wire::{InputFormat, RenderRequestV1};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut request = RenderRequestV1::new(text);
    request.input = InputFormat::ResourceList;
    if let Ok(out) = postwire_core::render_response(&request) {
        assert!(
            postwire_core::krm::is_resource_list(&out.manifests),
            "the output is not a ResourceList\n--- input\n{text}\n--- output\n{}",
            out.manifests
        );
    }
});
