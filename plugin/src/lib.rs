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
//! A third entry, [`bytes`], serves hosts that write the module's memory themselves (the
//! postwire runner): the manifests cross as raw bytes, neither JSON-escaped nor copied 8 bytes
//! per host call as extism's input and output are.
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

/// The bytes entry: the request's JSON without its manifests and the manifests' raw bytes, in
/// buffers the host allocates with `postwire_alloc` and fills; the response's manifests and its
/// report's JSON, which the host reads with `postwire_response` before the next call.
pub mod bytes {
    use std::cell::RefCell;

    use postwire_core::wire::RenderRequestV1;

    thread_local! {
        /// The last response: the manifests and the report's JSON, or the error message.
        static RESPONSE: RefCell<[Vec<u8>; 2]> = const { RefCell::new([Vec::new(), Vec::new()]) };
    }

    /// A buffer of `len` bytes for the host to fill; the next `postwire_render_bytes` takes it.
    #[no_mangle]
    pub extern "C" fn postwire_alloc(len: u32) -> u32 {
        let mut buffer = std::mem::ManuallyDrop::new(Vec::<u8>::with_capacity(len as usize));
        buffer.as_mut_ptr() as u32
    }

    /// Render: 0 with the response in place, else the error's exit code with its message as
    /// part 0 of the response.
    #[no_mangle]
    pub extern "C" fn postwire_render_bytes(header: u32, header_len: u32, manifests: u32, manifests_len: u32) -> i32 {
        // SAFETY: both are buffers `postwire_alloc` made with these lengths and the host filled.
        let (header, manifests) = unsafe { (take(header, header_len), take(manifests, manifests_len)) };
        crate::report_steps_to_a_listening_host();
        postwire_core::progress::step(|| "reading the request".to_string());
        let response = RenderRequestV1::from_json(&header).and_then(|mut request| {
            drop(header);
            request.manifests = String::from_utf8(manifests).map_err(|e| {
                postwire_core::Error::new(
                    postwire_core::ErrorKind::Wire,
                    format!("the manifests are not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
                )
            })?;
            postwire_core::render_response(&request)
        });
        postwire_core::progress::step(|| "writing the response".to_string());
        let (parts, code) = match response {
            Ok(response) => {
                let report = serde_json::to_vec(&response.report).expect("a report serializes");
                ([response.manifests.into_bytes(), report], 0)
            }
            Err(e) => ([e.to_string().into_bytes(), Vec::new()], i32::from(e.exit_code())),
        };
        RESPONSE.with(|r| *r.borrow_mut() = parts);
        code
    }

    /// Where part `part` (0 or 1) of the last response is: its address in the high 32 bits, its
    /// length in the low.
    #[no_mangle]
    pub extern "C" fn postwire_response(part: u32) -> u64 {
        RESPONSE.with(|r| {
            let r = r.borrow();
            let bytes = &r[part.min(1) as usize];
            ((bytes.as_ptr() as u64) << 32) | bytes.len() as u64
        })
    }

    /// # Safety
    /// `ptr` is a buffer `postwire_alloc(len)` returned, filled by the host.
    unsafe fn take(ptr: u32, len: u32) -> Vec<u8> {
        Vec::from_raw_parts(ptr as *mut u8, len as usize, len as usize)
    }
}
