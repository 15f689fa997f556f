//! Getting an error to the user.
//!
//! Helm 3 shows a post-renderer's stderr. Helm 4 captures a subprocess plugin's stderr and
//! throws it away, printing only `plugin "postwire" exited with error`. So when postwire runs
//! as a Helm 4 plugin (Helm sets `HELM_PLUGIN_NAME`) and its stderr is not a terminal, it also
//! writes the message straight to the controlling terminal (`/dev/tty`), and it always keeps
//! the last error in `<cache dir>/last-error.txt` for runs without a terminal (CI). The exit
//! code tells the kind of error, which `helm --debug` prints as `exitCode`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Exit codes, documented in the README.
pub mod exit {
    /// Anything else (I/O, runtime limits). Bad usage exits 2 (clap); postwire's own errors
    /// carry their code from plugin.wasm (3 config, 4 input, 5 wiring, 6 request).
    pub const OTHER: u8 = 1;
}

/// Where the last error is kept.
pub fn last_error_path() -> Option<PathBuf> {
    crate::runner::default_cache_dir().map(|d| d.join("last-error.txt"))
}

/// Print `message` to stderr and, when Helm would hide it, to the terminal; record it.
pub fn report(message: &str) {
    let line = format!("Error: {message}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(path) = last_error_path() {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(&path, &line);
    }
    let under_helm_plugin = std::env::var_os("HELM_PLUGIN_NAME").is_some();
    if under_helm_plugin && !std::io::stderr().is_terminal() {
        if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
            let _ = writeln!(
                tty,
                "postwire: {line}postwire: (Helm hides post-renderer output; this was written to your terminal)"
            );
        }
    }
}
