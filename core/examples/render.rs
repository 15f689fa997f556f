//! Render a stream natively, in process: `cargo run --release -p postwire-core --example render --
//! [CONFIG.yaml] < manifests.yaml`. The same engine plugin.wasm runs, without the wasm runtime:
//! the benchmark's native column and the profiler's target.

use std::io::{Read, Write};

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

fn main() {
    let mut manifests = String::new();
    std::io::stdin().read_to_string(&mut manifests).expect("read stdin");
    let mut request = RenderRequestV1::new(&manifests);
    if let Some(path) = std::env::args().nth(1) {
        let content = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        request.config = Some(ConfigFileV1 { name: path, content });
    }
    request.context.release_name = Some("bench".into());
    request.context.namespace = Some("default".into());
    match postwire_core::render(&request) {
        Ok(out) => std::io::stdout().write_all(out.manifests.as_bytes()).expect("write stdout"),
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::exit(1);
        }
    }
}
