//! `postwire_core::render` on any UTF-8 stream: it never panics; when it succeeds, every document
//! it changed parses, and rendering its output again gives the output back
//! (`render(render(x)) == render(x)`, for streams without an in-stream `PostwireConfig`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_core::stream::Stream;
use postwire_core::wire::RenderRequestV1;
use postwire_core::yaml::Tree;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(first) = postwire_core::render(&RenderRequestV1::new(text)) else { return };
    let input = Stream::split(text);
    let inputs: Vec<&str> = (0..input.segments.len()).map(|i| input.segment_text(i)).collect();
    let output = Stream::split(&first.manifests);
    for i in 0..output.segments.len() {
        let doc = output.segment_text(i);
        if output.segments[i].has_content && !inputs.contains(&doc) {
            if let Err(e) = Tree::parse(doc, 0) {
                panic!("an edited document does not parse: {e}\n--- input\n{text}\n--- output\n{}", first.manifests);
            }
        }
    }
    if first.report.summary.removed > 0 {
        // An in-stream PostwireConfig was applied and removed: the output renders without it.
        return;
    }
    let second = postwire_core::render(&RenderRequestV1::new(first.manifests.as_str()))
        .unwrap_or_else(|e| panic!("rendering the output fails: {e}\n--- output\n{}", first.manifests));
    assert!(
        second.manifests == first.manifests,
        "not idempotent\n--- input\n{text}\n--- first\n{}\n--- second\n{}",
        first.manifests,
        second.manifests
    );
});
