//! postwire as an extism plugin: `plugin.wasm`.
//!
//! Two exports, both JSON in and out (see `postwire_core::wire`):
//! - `helm_plugin_main`: Helm 4's `postrenderer/v1` message with manifests as a string (the fix
//!   offered for helm/helm#31832); `extraArgs` take `--set`, `--namespace`, `--release`.
//! - `render`: the general entry every postwire host uses (`RenderRequestV1` → `RenderResponseV1`);
//!   a KRM `ResourceList` (`input: resourceList`, or detected) is rendered as a KRM function.
//!
//! A failure sets the extism error to the one-line message and returns the error's exit code
//! (3 config, 4 input, 5 wiring, 6 request).
//!
//! Each copy of a large stream is fresh wasm memory the host must fault in, so buffers are freed
//! as soon as they are read and the next copy reuses their pages.

use extism_pdk::{plugin_fn, FnResult, LogLevel, Memory, WithReturnCode};
use postwire_core::wire::{HelmPostRendererInputV1, HelmPostRendererOutputV1, RenderRequestV1};

/// Tell the host each step of the engine as a trace-level log line starting `postwire step: `,
/// when the host collects trace logs: the postwire runner does, to name the step a timeout or
/// the memory cap stopped (the module cannot report those itself). Helm 4 sets no log level, so
/// there the engine builds no text and makes no call.
fn report_steps_to_a_listening_host() {
    // extism's `get_log_level`: 0 is trace; i32::MAX means logging is off.
    if unsafe { extism_pdk::extism::get_log_level() } == LogLevel::Trace.to_int() {
        postwire_core::progress::set_reporter(|step| {
            if let Ok(line) = Memory::from_bytes(format!("postwire step: {step}")) {
                // The host frees the line (extism runtime/src/pdk.rs `log`, at commit 7230657).
                line.log(LogLevel::Trace);
            }
        });
    }
}

/// The core error as the plugin's error text (one line) and its exit code as the return code.
fn fail(err: postwire_core::Error) -> WithReturnCode<extism_pdk::Error> {
    let code = i32::from(err.exit_code());
    WithReturnCode::new(extism_pdk::Error::msg(err.to_string()), code)
}

/// Helm 4 `postrenderer/v1` entry point.
#[plugin_fn]
pub fn helm_plugin_main(input: Vec<u8>) -> FnResult<Vec<u8>> {
    report_steps_to_a_listening_host();
    postwire_core::progress::step(|| "reading Helm's message".to_string());
    let message = HelmPostRendererInputV1::from_json(&input).map_err(fail)?;
    drop(input);
    let request = message.into_request().map_err(fail)?;
    let out = postwire_core::render(&request).map_err(fail)?;
    drop(request);
    postwire_core::progress::step(|| "writing the response".to_string());
    Ok(HelmPostRendererOutputV1 { manifests: out.manifests }.to_json())
}

/// The general render entry point.
#[plugin_fn]
pub fn render(input: Vec<u8>) -> FnResult<Vec<u8>> {
    report_steps_to_a_listening_host();
    postwire_core::progress::step(|| "reading the request".to_string());
    let request = RenderRequestV1::from_json(&input).map_err(fail)?;
    drop(input);
    let response = postwire_core::render_response(&request).map_err(fail)?;
    drop(request);
    postwire_core::progress::step(|| "writing the response".to_string());
    Ok(response.to_json())
}
