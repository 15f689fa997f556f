//! Getting errors and warnings to the user.
//!
//! Helm 3 shows a post-renderer's stderr only when it fails; Helm 4 captures a subprocess
//! plugin's stderr and throws it away, printing only `plugin "postwire" exited with error`. So:
//!
//! - every message goes to stderr (a pipe, CI logs, Helm 3's error output);
//! - under Helm (Helm 4 sets `HELM_PLUGIN_NAME`; a Helm 3 post-renderer's parent process is
//!   `helm`) with stderr not a terminal, the messages Helm would hide (errors under Helm 4,
//!   warnings under both) are also written straight to the controlling terminal (`/dev/tty`);
//! - every error replaces `<cache dir>/last-error.txt` (written whole, then renamed, so parallel
//!   runs never interleave), which names its time, command line and directory;
//! - every error and warning is appended, one line each with time and process id, to
//!   `<cache dir>/postwire.log`, so parallel runs (helmfile) keep all of theirs.
//!
//! The exit code tells the kind of error, which `helm --debug` prints as `exitCode`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Exit codes, documented in docs/cli.md and `postwire --help`.
pub mod exit {
    /// Anything else (I/O, runtime limits).
    pub const OTHER: u8 = 1;
    /// Bad command-line usage: an unknown flag, a bad `POSTWIRE_*` value, a terminal on stdin.
    pub const USAGE: u8 = 2;
    /// Invalid config, including a `--config` file that cannot be read.
    pub const CONFIG: u8 = 3;
    /// Invalid input: not YAML, not a Kubernetes object, an unrendered chart.
    pub const INPUT: u8 = 4;
    /// `postwire check` (or a render under `check.failOn`) found what breaks once applied.
    pub const CHECK: u8 = 7;
}

/// `postwire.log` grows to this size, then moves to `postwire.log.1`.
const LOG_LIMIT: u64 = 1 << 20;

/// Where the last error is kept.
pub fn last_error_path() -> Option<PathBuf> {
    crate::runner::default_cache_dir().map(|d| d.join("last-error.txt"))
}

/// Where every error and warning is logged.
pub fn log_path() -> Option<PathBuf> {
    crate::runner::default_cache_dir().map(|d| d.join("postwire.log"))
}

/// Which Helm runs postwire, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    /// Helm 4 subprocess plugin (`HELM_PLUGIN_NAME` set): stderr is always discarded.
    Helm4Plugin,
    /// Helm 3 `--post-renderer`: stderr is shown only when postwire fails.
    Helm3PostRenderer,
    /// Anything else: stderr is the user's.
    Other,
}

fn host() -> Host {
    if std::env::var_os("HELM_PLUGIN_NAME").is_some() {
        Host::Helm4Plugin
    } else if parent_is_helm() {
        Host::Helm3PostRenderer
    } else {
        Host::Other
    }
}

/// Whether the parent process is a Helm binary (`helm`, `helm3`…), on Linux.
fn parent_is_helm() -> bool {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return false;
    };
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last `)`.
    let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
    ppid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).ok())
        .is_some_and(|comm| comm.trim().starts_with("helm"))
}

/// UTC time as `2026-08-01T12:34:56Z` (no clock crate: days to civil date, Hinnant's method).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// This process's command line, quoted for a shell where needed.
pub fn command_line() -> String {
    let mut args = std::env::args();
    let program = args.next().map(|p| {
        let name = std::path::Path::new(&p).file_name().map(|n| n.to_string_lossy().into_owned());
        name.unwrap_or(p)
    });
    program.into_iter().chain(args).map(|a| shell_quote(&a)).collect::<Vec<_>>().join(" ")
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%{}[]".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn write_tty(text: &str) {
    if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
        let _ = tty.write_all(text.as_bytes());
    }
}

/// Open a log file readable by its owner only (0600), for appending or truncated: messages name
/// files, commands and directories other local users need not see. A file an older postwire
/// created 0644 is narrowed too.
pub fn open_private(path: &std::path::Path, append: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true);
    if append {
        options.append(true);
    } else {
        options.truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// Append one line to `postwire.log` (one `write` of a line, so concurrent appends do not mix).
fn log(kind: &str, message: &str, detail: &str) {
    let Some(path) = log_path() else { return };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > LOG_LIMIT) {
        let _ = std::fs::rename(&path, path.with_extension("log.1"));
    }
    let line = format!(
        "{} [pid {}] {kind}: {}  ({detail}command: {})\n",
        utc_now(),
        std::process::id(),
        message.replace('\n', " "),
        command_line()
    );
    if let Ok(mut f) = open_private(&path, true) {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Print `message` to stderr and, when Helm would hide it, to the terminal; record it in
/// `last-error.txt` and `postwire.log`. `code` is the exit code the process is about to return.
pub fn report(message: &str, code: u8) {
    let line = format!("Error: {message}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(path) = last_error_path() {
        let dir = path.parent().expect("in the cache dir");
        let _ = std::fs::create_dir_all(dir);
        let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
        let text =
            format!("{line}\ntime: {}\ncommand: {}\ndirectory: {cwd}\nexit code: {code}\n", utc_now(), command_line());
        // Whole file, then rename: a concurrent run sees one complete error or the other.
        let tmp = dir.join(format!(".last-error.txt.{}", std::process::id()));
        let written = open_private(&tmp, false).and_then(|mut f| f.write_all(text.as_bytes()));
        if written.is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    log("Error", message, &format!("exit code {code}; "));
    if host() == Host::Helm4Plugin && !std::io::stderr().is_terminal() {
        write_tty(&format!(
            "postwire: {line}postwire: (Helm hides post-renderer output; this was written to your terminal)\n"
        ));
    }
}

/// Print a warning to stderr and, under Helm (which drops a successful post-renderer's
/// stderr), to the terminal; log it in `postwire.log`.
pub fn warn(message: &str) {
    let line = format!("postwire: warning: {message}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    log("Warning", message, "");
    if host() != Host::Other && !std::io::stderr().is_terminal() {
        write_tty(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_now_is_an_rfc3339_utc_time() {
        let t = utc_now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && &t[4..5] == "-" && &t[10..11] == "T", "{t}");
        assert!(t.as_str() > "2024-01-01T00:00:00Z", "{t}");
    }

    #[cfg(unix)]
    #[test]
    fn log_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("postwire-private-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let new = dir.join("postwire.log");
        open_private(&new, true).unwrap().write_all(b"x\n").unwrap();
        assert_eq!(mode(&new), 0o600);
        // An old world-readable file is narrowed.
        let old = dir.join("last-error.txt");
        std::fs::write(&old, "old").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        open_private(&old, false).unwrap().write_all(b"new").unwrap();
        assert_eq!((mode(&old), std::fs::read_to_string(&old).unwrap()), (0o600, "new".to_string()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shell_quote_quotes_only_when_needed() {
        assert_eq!(shell_quote("--set"), "--set");
        assert_eq!(shell_quote("checksum.exclude={a,b}"), "checksum.exclude={a,b}");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
