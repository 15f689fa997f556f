//! Whether the compiled-module cache can be trusted. The runner maps the native code it finds
//! there without verifying it, so anyone who can write the cache can run code as every user of
//! this postwire. A cache directory or anything under its `modules/` (what the runner reads)
//! that is not owned by this user, or that other users may write, is refused:
//! postwire then compiles the module on each run instead, and says why once per run. The rest
//! of the directory (logs; the test tools that `scripts/install-tools.sh` keeps in `tools/` by
//! default) is not read as code and not checked.

use std::path::Path;

/// Why `dir` must not serve as the module cache, or None when it may. A directory that does
/// not exist yet is fine (postwire creates it, private to its user).
pub fn refusal(dir: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        unix::refusal(dir)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Why the precompiled module `file` shipped beside the binary must not be mapped, or None. It
/// runs as code, so it must be no easier to write than the binary: not a symbolic link, owned
/// by this user, root or the binary's owner, and not writable by other users.
pub fn shipped_refusal(file: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        unix::shipped_refusal(file)
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        None
    }
}

#[cfg(unix)]
mod unix {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    /// Entries walked at most: the cache holds a few files per postwire version.
    const MAX_ENTRIES: usize = 10_000;

    /// This user and group.
    fn me() -> (u32, u32) {
        // SAFETY: geteuid and getegid have no preconditions and cannot fail.
        unsafe { (libc::geteuid(), libc::getegid()) }
    }

    /// Whether `mode` lets users other than the owner (and the user's own group) write.
    fn others_may_write(meta: &std::fs::Metadata, my_group: u32) -> bool {
        let mode = meta.permissions().mode();
        // Group-writable is fine for the user's own group (umask 002 on user-private groups).
        mode & 0o002 != 0 || (mode & 0o020 != 0 && meta.gid() != my_group)
    }

    pub fn shipped_refusal(file: &Path) -> Option<String> {
        let (me, my_group) = me();
        let meta = match std::fs::symlink_metadata(file) {
            Ok(meta) => meta,
            Err(e) => return Some(format!("{}: {e}", file.display())),
        };
        if meta.file_type().is_symlink() {
            return Some(format!("{} is a symbolic link", file.display()));
        }
        let binary_owner = std::env::current_exe().ok().and_then(|exe| std::fs::metadata(exe).ok()).map(|m| m.uid());
        if meta.uid() != me && meta.uid() != 0 && Some(meta.uid()) != binary_owner {
            return Some(format!("{} belongs to another user (uid {})", file.display(), meta.uid()));
        }
        others_may_write(&meta, my_group).then(|| format!("{} is writable by other users", file.display()))
    }

    pub fn refusal(dir: &Path) -> Option<String> {
        let (me, my_group) = me();
        // The directory itself (whoever can write it can swap what is in it), then what the runner reads.
        let mut pending = vec![dir.join("modules"), dir.to_path_buf()];
        let mut seen = 0;
        while let Some(path) = pending.pop() {
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            seen += 1;
            if seen > MAX_ENTRIES {
                return Some(format!("{} holds more than {MAX_ENTRIES} entries", dir.display()));
            }
            if meta.file_type().is_symlink() && path != dir {
                return Some(format!("{} is a symbolic link", path.display()));
            }
            if meta.uid() != me && meta.uid() != 0 {
                return Some(format!("{} belongs to another user (uid {})", path.display(), meta.uid()));
            }
            if others_may_write(&meta, my_group) {
                return Some(format!("{} is writable by other users", path.display()));
            }
            if meta.is_dir() && path != dir {
                if let Ok(entries) = std::fs::read_dir(&path) {
                    pending.extend(entries.flatten().map(|e| e.path()));
                }
            }
        }
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::{refusal, shipped_refusal};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_cache_others_can_write_is_refused() {
        let dir = std::env::temp_dir().join(format!("postwire-cache-trust-{}", std::process::id()));
        let modules = dir.join("modules");
        std::fs::create_dir_all(&modules).unwrap();
        let set =
            |p: &std::path::Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        set(&dir, 0o700);
        set(&modules, 0o755);
        std::fs::write(modules.join("entry"), b"code").unwrap();
        set(&modules.join("entry"), 0o644);
        assert_eq!(refusal(&dir), None);
        assert_eq!(refusal(&dir.join("absent")), None);

        set(&modules.join("entry"), 0o666);
        let why = refusal(&dir).expect("a world-writable entry");
        assert!(why.contains("entry") && why.contains("writable by other users"), "{why}");
        set(&modules.join("entry"), 0o644);

        set(&modules, 0o777);
        assert!(refusal(&dir).is_some_and(|w| w.contains("modules")));
        set(&modules, 0o755);

        std::os::unix::fs::symlink("/tmp", modules.join("link")).unwrap();
        assert!(refusal(&dir).is_some_and(|w| w.contains("symbolic link")));
        std::fs::remove_file(modules.join("link")).unwrap();

        // What the runner does not read is not checked: the test tools' symlinks, a shared log.
        let tools = dir.join("tools/venv/bin");
        std::fs::create_dir_all(&tools).unwrap();
        std::os::unix::fs::symlink("/usr/bin/python3", tools.join("python3")).unwrap();
        std::fs::write(dir.join("postwire.log"), b"").unwrap();
        set(&dir.join("postwire.log"), 0o666);
        assert_eq!(refusal(&dir), None);
        // The directory itself is checked.
        set(&dir, 0o777);
        assert!(refusal(&dir).is_some_and(|w| w.contains("writable by other users")));
        set(&dir, 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_shipped_module_others_can_write_is_refused() {
        let dir = std::env::temp_dir().join(format!("postwire-shipped-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("plugin-x.cwasm");
        std::fs::write(&file, b"code").unwrap();
        let set = |mode| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        set(0o644);
        assert_eq!(shipped_refusal(&file), None);
        set(0o646);
        assert!(shipped_refusal(&file).is_some_and(|w| w.contains("writable by other users")));
        set(0o644);
        let link = dir.join("plugin-y.cwasm");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(shipped_refusal(&link).is_some_and(|w| w.contains("symbolic link")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
