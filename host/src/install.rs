//! `postwire install-plugin`: put the right Helm plugin, with this binary beside it, where each
//! Helm looks, without breaking the other Helm.
//!
//! Helm 4 resolves `--post-renderer NAME` only to a `postrenderer/v1` plugin, whose plugin.yaml
//! needs `apiVersion: v1`. Helm 3 (3.17 verified) decodes every plugin.yaml of its plugins
//! directories strictly and, at the first one it cannot read, loads no plugin at all
//! (`failed to load plugins: ... json: unknown field "apiVersion"`). Both Helms read the same
//! directory by default (`~/.local/share/helm/plugins`), so:
//!
//! - Helm 3 gets `postwire-cli` there (`helm postwire ...`, a plugin.yaml both Helms read), and
//!   takes the binary itself as its post-renderer;
//! - Helm 4 gets the `postrenderer/v1` plugin in its first plugins directory when no Helm 3
//!   reads that directory, and otherwise in a sibling directory `plugins-helm4`, which Helm 4
//!   alone is then told to read (`HELM_PLUGINS` is a path list): by a wrapper script in
//!   `plugins-helm4/bin`, named like the Helm 4 binary, that sets it and runs that Helm, so the
//!   setup works wherever PATH does (CI, Makefiles, helmfile), not only in an interactive shell.
//!
//! `postwire uninstall-plugin` removes what this wrote.

use std::path::{Path, PathBuf};
use std::process::Command;

/// plugin.yaml of the Helm 4 post-renderer plugin.
const V1_PLUGIN_YAML: &str = include_str!("../../helm-plugin/postwire/plugin.yaml");
/// run.sh of the Helm 4 post-renderer plugin.
const V1_RUN_SH: &str = include_str!("../../helm-plugin/postwire/run.sh");
/// plugin.yaml of the CLI plugin both Helms read.
const CLI_PLUGIN_YAML: &str = include_str!("../../helm-plugin/postwire-cli/plugin.yaml");

/// Which Helm to install for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// Helm 3: `helm postwire`, and the binary as `--post-renderer`.
    #[value(name = "3")]
    Helm3,
    /// Helm 4: the `postrenderer/v1` plugin `--post-renderer postwire` resolves.
    #[value(name = "4")]
    Helm4,
    /// Every Helm found on PATH (`helm`, `helm3`, `helm4`, and `$HELM_BIN`).
    Auto,
}

/// A Helm binary and what it says about itself.
#[derive(Debug, Clone)]
struct Helm {
    bin: PathBuf,
    major: u32,
    version: String,
    plugin_dirs: Vec<PathBuf>,
}

fn run_helm(bin: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(bin).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn probe(bin: &Path) -> Option<Helm> {
    let version = run_helm(bin, &["version", "--template", "{{.Version}}"])?;
    let major = version.trim_start_matches('v').split('.').next()?.parse().ok()?;
    let dirs = run_helm(bin, &["env", "HELM_PLUGINS"])?;
    let plugin_dirs = std::env::split_paths(&dirs).filter(|p| !p.as_os_str().is_empty()).collect();
    Some(Helm { bin: bin.to_path_buf(), major, version, plugin_dirs })
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Helm binaries: `--helm-bin` ones if given, else `$HELM_BIN` and `helm`, `helm3`, `helm4` on PATH.
fn find_helms(explicit: &[PathBuf]) -> Vec<Helm> {
    let mut candidates: Vec<PathBuf> = explicit.to_vec();
    if candidates.is_empty() {
        if let Some(bin) = std::env::var_os("HELM_BIN").map(PathBuf::from) {
            candidates.push(if bin.components().count() > 1 {
                bin
            } else {
                on_path(&bin.to_string_lossy()).unwrap_or(bin)
            });
        }
        candidates.extend(["helm", "helm3", "helm4"].iter().filter_map(|n| on_path(n)));
    }
    let mut seen = Vec::new();
    let mut helms = Vec::new();
    for bin in candidates {
        let real = bin.canonicalize().unwrap_or_else(|_| bin.clone());
        if seen.contains(&real) {
            continue;
        }
        seen.push(real);
        if let Some(h) = probe(&bin) {
            helms.push(h);
        }
    }
    helms
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    canon(a) == canon(b)
}

/// Whether `dir/postwire` holds a Helm 4 (`apiVersion: v1`) plugin.
fn holds_v1_plugin(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("postwire/plugin.yaml"))
        .is_ok_and(|t| t.lines().any(|l| l.trim_start().starts_with("apiVersion:")))
}

/// Write `dir/postwire/` with `files` and this binary beside them (with the module precompiled
/// for it, when this binary has one beside it: `postwire precompile`), replacing what was there.
fn write_plugin(dir: &Path, files: &[(&str, &str, bool)]) -> Result<PathBuf, String> {
    let dest = dir.join("postwire");
    let fail = |what: &Path, e: std::io::Error| format!("writing {}: {e}", what.display());
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the running postwire binary: {e}"))?;
    let target_bin = dest.join("postwire");
    let running_from_dest = exe.canonicalize().ok() == target_bin.canonicalize().ok() && target_bin.exists();
    let shipped = crate::runner::shipped_name(crate::PLUGIN_WASM);
    std::fs::create_dir_all(&dest).map_err(|e| fail(&dest, e))?;
    // Remove what the other plugin kind left (a run.sh without plugin.yaml is harmless, but stale).
    if let Ok(entries) = std::fs::read_dir(&dest) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let keep = name == "postwire" || name == *shipped || files.iter().any(|(n, _, _)| name == *n);
            if !keep {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    for (name, text, executable) in files {
        let path = dest.join(name);
        std::fs::write(&path, text).map_err(|e| fail(&path, e))?;
        if *executable {
            set_executable(&path).map_err(|e| fail(&path, e))?;
        }
    }
    if !running_from_dest {
        // Copy, then rename: a Helm running the old binary meanwhile keeps a complete file.
        let copy = |from: &Path, to: &Path, executable: bool| -> Result<(), String> {
            let tmp = dest.join(format!(".postwire.{}", std::process::id()));
            std::fs::copy(from, &tmp).map_err(|e| fail(&tmp, e))?;
            if executable {
                set_executable(&tmp).map_err(|e| fail(&tmp, e))?;
            }
            std::fs::rename(&tmp, to).map_err(|e| fail(to, e))
        };
        // The precompiled module first: a binary never finds an older module beside it.
        let module = exe.with_file_name(&shipped);
        if module.is_file() {
            copy(&module, &dest.join(&shipped), false)?;
        }
        copy(&exe, &target_bin, true)?;
    }
    Ok(dest)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// First line of the wrapper script, by which `uninstall-plugin` knows it.
const WRAPPER_MARK: &str = "# postwire install-plugin: Helm 4 reading its own plugins directory too";

/// Write `<own>/bin/<name>`: runs `helm4` with `HELM_PLUGINS` = `dirs`. Returns its directory.
fn write_wrapper(own: &Path, name: &str, helm4: &Path, dirs: &[PathBuf]) -> Result<PathBuf, String> {
    let bin = own.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| format!("creating {}: {e}", bin.display()))?;
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let script = format!(
        "#!/bin/sh\n{WRAPPER_MARK}\n# (Helm 3 shares the first directory and cannot read a Helm 4 plugin there.)\n\
         HELM_PLUGINS={} exec {} \"$@\"\n",
        quote(&join_paths(dirs)),
        quote(&helm4.display().to_string())
    );
    let path = bin.join(name);
    std::fs::write(&path, script).map_err(|e| format!("writing {}: {e}", path.display()))?;
    set_executable(&path).map_err(|e| format!("chmod {}: {e}", path.display()))?;
    Ok(bin)
}

fn join_paths(dirs: &[PathBuf]) -> String {
    std::env::join_paths(dirs).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Install for `which`; `plugins_dir` overrides where (for one Helm). Returns what was done,
/// as lines for the user.
pub fn install(which: Which, plugins_dir: Option<&Path>, helm_bins: &[PathBuf]) -> Result<Vec<String>, String> {
    let helms = find_helms(helm_bins);
    let helm3s: Vec<&Helm> = helms.iter().filter(|h| h.major == 3).collect();
    let helm4s: Vec<&Helm> = helms.iter().filter(|h| h.major >= 4).collect();
    let (want3, want4) = match which {
        Which::Helm3 => (true, false),
        Which::Helm4 => (false, true),
        Which::Auto => (!helm3s.is_empty(), !helm4s.is_empty()),
    };
    if !want3 && !want4 {
        return Err(if plugins_dir.is_some() {
            "--plugins-dir needs --helm 3 or --helm 4 when no Helm is on PATH".to_string()
        } else {
            "no Helm found (looked for $HELM_BIN, and helm, helm3, helm4 on PATH); pass --helm-bin PATH, \
             or --helm 3|4 with --plugins-dir DIR"
                .to_string()
        });
    }
    let mut said = Vec::new();
    let cli_files: &[(&str, &str, bool)] = &[("plugin.yaml", CLI_PLUGIN_YAML, false)];
    let v1_files: &[(&str, &str, bool)] = &[("plugin.yaml", V1_PLUGIN_YAML, false), ("run.sh", V1_RUN_SH, true)];

    // Directories some Helm 3 reads: never put a Helm 4 plugin.yaml there.
    let helm3_dirs: Vec<PathBuf> = helm3s.iter().flat_map(|h| h.plugin_dirs.clone()).collect();
    let read_by_helm3 = |dir: &Path| helm3s.iter().find(|h| h.plugin_dirs.iter().any(|d| same_dir(d, dir)));

    if want3 {
        let dir = match (plugins_dir, helm3s.first()) {
            (Some(d), _) if !want4 => d.to_path_buf(),
            (_, Some(h)) => h.plugin_dirs.first().cloned().ok_or("Helm 3 names no plugins directory")?,
            (Some(d), None) => d.to_path_buf(),
            (None, None) => {
                return Err("no Helm 3 found on PATH (looked for helm, helm3); pass --plugins-dir DIR".into())
            }
        };
        let replaced_v1 = holds_v1_plugin(&dir);
        let dest = write_plugin(&dir, cli_files)?;
        let who =
            helm3s.first().map_or("Helm 3".to_string(), |h| format!("Helm 3 ({}, {})", h.bin.display(), h.version));
        said.push(format!("{who}: installed `helm postwire` in {}", dest.display()));
        if replaced_v1 {
            said.push(format!(
                "  replaced the Helm 4 plugin that was there: Helm 3 loads no plugin at all from {} while one is",
                dir.display()
            ));
        }
        said.push(format!(
            "  post-render with: helm template web ./chart --post-renderer {}",
            if on_path("postwire").is_some() {
                "postwire".to_string()
            } else {
                dest.join("postwire").display().to_string()
            }
        ));
    }

    if want4 {
        let helm4 = helm4s.first().copied();
        let shared = match (plugins_dir, helm4) {
            (Some(d), _) => d.to_path_buf(),
            (None, Some(h)) => h.plugin_dirs.first().cloned().ok_or("Helm 4 names no plugins directory")?,
            (None, None) => {
                return Err("no Helm 4 found on PATH (looked for helm, helm4); pass --plugins-dir DIR".into())
            }
        };
        let who = helm4.map_or("Helm 4".to_string(), |h| format!("Helm 4 ({}, {})", h.bin.display(), h.version));
        match read_by_helm3(&shared) {
            None => {
                let dest = write_plugin(&shared, v1_files)?;
                said.push(format!("{who}: installed the post-renderer plugin in {}", dest.display()));
            }
            Some(_) if plugins_dir.is_some() => {
                return Err(format!(
                    "Helm 3 reads {} too, and loads no plugin at all from a directory holding a Helm 4 plugin; \
                     choose a directory only Helm 4 reads",
                    shared.display()
                ));
            }
            Some(h3) => {
                // Helm 3 shares the directory: keep it readable by Helm 3, and give Helm 4 a
                // directory of its own.
                if holds_v1_plugin(&shared) {
                    let dest = write_plugin(&shared, cli_files)?;
                    said.push(format!(
                        "replaced the Helm 4 plugin in {} with `helm postwire` (both Helms read it)",
                        dest.display()
                    ));
                }
                let own = shared.with_file_name(format!(
                    "{}-helm4",
                    shared.file_name().map_or("plugins".into(), |n| n.to_string_lossy().into_owned())
                ));
                if helm3_dirs.iter().any(|d| same_dir(d, &own)) {
                    return Err(format!("Helm 3 reads {} as well; pass --plugins-dir DIR", own.display()));
                }
                let dest = write_plugin(&own, v1_files)?;
                said.push(format!("{who}: installed the post-renderer plugin in {}", dest.display()));
                let reads_own = helm4.is_some_and(|h| h.plugin_dirs.iter().any(|d| same_dir(d, &own)));
                if !reads_own {
                    let mut dirs = helm4.map(|h| h.plugin_dirs.clone()).unwrap_or_else(|| vec![shared.clone()]);
                    dirs.push(own.clone());
                    let name = helm4
                        .and_then(|h| h.bin.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .unwrap_or_else(|| "helm".into());
                    said.push(format!(
                        "  {} ({}) reads {} too and loads no plugin from it while it holds a Helm 4 plugin, so \
                         Helm 4 alone must read {}; put the wrapper that makes it first on PATH (shell profile):",
                        h3.bin.display(),
                        h3.version,
                        shared.display(),
                        own.display()
                    ));
                    let real = helm4.map_or_else(|| PathBuf::from("helm"), |h| h.bin.clone());
                    let real = real.canonicalize().unwrap_or(real);
                    let bin = write_wrapper(&own, &name, &real, &dirs)?;
                    said.push(format!("    export PATH=\"{}:$PATH\"", bin.display()));
                    said.push(format!(
                        "  ({}/{name} runs {} with HELM_PLUGINS set; CI jobs and Makefiles put that directory \
                         first on PATH the same way)",
                        bin.display(),
                        real.display()
                    ));
                }
            }
        }
        said.push("  post-render with: helm template web ./chart --post-renderer postwire".to_string());
    }
    Ok(said)
}

/// Remove what `install` wrote for the Helms found (or in `plugins_dir`): the `postwire`
/// plugins in their plugins directories and the `-helm4` sibling, and the wrapper script.
/// Other plugins are left alone. Returns what was done, as lines for the user.
pub fn uninstall(plugins_dir: Option<&Path>, helm_bins: &[PathBuf]) -> Result<Vec<String>, String> {
    let mut dirs: Vec<PathBuf> = match plugins_dir {
        Some(d) => vec![d.to_path_buf()],
        None => find_helms(helm_bins).into_iter().flat_map(|h| h.plugin_dirs).collect(),
    };
    if dirs.is_empty() {
        return Err(
            "no Helm found (looked for $HELM_BIN, and helm, helm3, helm4 on PATH); pass --plugins-dir DIR".into()
        );
    }
    let siblings: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| Some(d.with_file_name(format!("{}-helm4", d.file_name()?.to_string_lossy()))))
        .collect();
    dirs.extend(siblings);
    let mut said = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        if seen.iter().any(|d| same_dir(d, &dir)) {
            continue;
        }
        seen.push(dir.clone());
        let plugin = dir.join("postwire");
        let ours = std::fs::read_to_string(plugin.join("plugin.yaml"))
            .is_ok_and(|y| y.lines().any(|l| l.trim() == "name: postwire"));
        if ours {
            std::fs::remove_dir_all(&plugin).map_err(|e| format!("removing {}: {e}", plugin.display()))?;
            said.push(format!("removed {}", plugin.display()));
        }
        let Ok(entries) = std::fs::read_dir(dir.join("bin")) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if std::fs::read_to_string(&path).is_ok_and(|t| t.lines().nth(1) == Some(WRAPPER_MARK)) {
                std::fs::remove_file(&path).map_err(|e| format!("removing {}: {e}", path.display()))?;
                said.push(format!("removed {} (take its directory off PATH)", path.display()));
            }
        }
    }
    if said.is_empty() {
        said.push("postwire's Helm plugins were not installed; nothing to remove".into());
    }
    Ok(said)
}
