//! The floor under any render of a stream: each document parsed once, natively. `cargo run
//! --release -p postwire-core --example parse < manifests.yaml` prints, in milliseconds (median
//! of 5), the YAML parser's events alone and postwire's tree built from them (what every
//! wiring reads). A render that parses the input once and writes it out cannot be faster.

use std::io::Read;
use std::time::Instant;

use postwire_core::stream::Stream;
use postwire_core::yaml::Tree;

fn median_ms(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[2]
}

fn main() {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).expect("read stdin");
    let stream = Stream::split(&text);
    let docs: Vec<&str> = (0..stream.segments.len())
        .filter(|&i| stream.segments[i].has_content)
        .map(|i| stream.segment_text(i))
        .collect();
    let events = median_ms(|| {
        for doc in &docs {
            for event in granit_parser::Parser::new_from_str(doc) {
                std::hint::black_box(event.expect("the stream parses"));
            }
        }
    });
    let trees = median_ms(|| {
        for doc in &docs {
            std::hint::black_box(Tree::parse(doc, 0).expect("the stream parses"));
        }
    });
    println!(
        "{{\"bytes\": {}, \"documents\": {}, \"events_ms\": {events:.2}, \"trees_ms\": {trees:.2}}}",
        text.len(),
        docs.len()
    );
}
