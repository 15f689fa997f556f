//! Render a stream natively, in process: `cargo run --release -p postwire-core --example render --
//! [CONFIG.yaml [REPORT.json]] < manifests.yaml`. The same engine plugin.wasm runs, without the
//! wasm runtime: the benchmark's native column, the profiler's target, and (with a report path)
//! a way to compare whole renders before and after a change.

use std::io::{Read, Write};

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

fn main() {
    let mut manifests = String::new();
    std::io::stdin().read_to_string(&mut manifests).expect("read stdin");
    let mut request = RenderRequestV1::new(&manifests);
    let mut args = std::env::args().skip(1);
    if let Some(path) = args.next() {
        let content = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        request.config = Some(ConfigFileV1 { name: path, content });
    }
    let report_path = args.next();
    request.context.release_name = Some("bench".into());
    request.context.namespace = Some("default".into());
    match postwire_core::render(&request) {
        Ok(out) => {
            std::io::stdout().write_all(out.manifests.as_bytes()).expect("write stdout");
            if let Some(path) = report_path {
                let report = serde_json::to_string_pretty(&out.report).expect("report serializes");
                std::fs::write(&path, report).unwrap_or_else(|e| panic!("{path}: {e}"));
            }
        }
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::exit(1);
        }
    }
}
