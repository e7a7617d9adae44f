//! Files that hold secrets (eks-token's token cache, kubeconfigs, oidc-creds' credential and env
//! files, AWS config profiles), all written one way.
//!
//! [`write`] creates a new file beside the target with `O_EXCL` and mode 0600 from its creation
//! (no moment when another user could open it), writes it whole, `fsync`s it and renames it over
//! the target, so a reader sees the old file or the new one, never half of one, and nothing is
//! ever written through a link or into a file someone else prepared.
//!
//! A symbolic link at the target is refused ([`Links::Refuse`]): whoever planted it chooses where
//! our secret lands. The one exception is a kubeconfig ([`Links::FollowOwn`]): kubectl follows a
//! symlinked `~/.kube/config` (dotfile managers link it) and so do we, but only to a regular file
//! that this user owns; the new file replaces the link's destination, so the link stays a link.
//!
//! Directories: a missing one is created 0700. A cache directory ([`Dir::Private`]) must belong to
//! this user and be writable by nobody else, or another user could swap our cached token for
//! theirs or read it; anything else is refused.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// What to do with a symbolic link at the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Refuse to write (every private file but a kubeconfig).
    Refuse,
    /// Follow it to a regular file of this user's, and replace that file (kubeconfigs).
    FollowOwn,
}

/// What the target's directory must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Any directory this user can write (a path the user chose).
    Any,
    /// This user's, and writable by nobody else (a cache directory we chose).
    Private,
}

/// Writes `contents` to `path` as a private file (see the module documentation) and returns the
/// path written: `path` itself, or the file a followed link names.
///
/// # Errors
/// The reason, as an I/O error whose message names the path: a symbolic link where none is
/// allowed, a directory that is not private enough, or the file system's own error.
pub fn write(path: &Path, contents: &[u8], links: Links, dir_policy: Dir) -> io::Result<PathBuf> {
    let target = resolve(path, links)?;
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    ensure_dir(&dir, dir_policy)?;
    if let Ok(meta) = fs::symlink_metadata(&target)
        && !meta.is_file()
    {
        return Err(refused(&target, "it exists and is not a regular file"));
    }
    let name = target
        .file_name()
        .map_or_else(|| "private".into(), |n| n.to_string_lossy().into_owned());
    let (temp, mut file) = create_temp(&dir, &name)?;
    let written = file
        .write_all(contents)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&temp, &target));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(io::Error::new(
            e.kind(),
            format!("{}: {e}", target.display()),
        ));
    }
    // The rename is durable once the directory is; a failure here loses nothing but durability.
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(target)
}

/// Creates `dir` (0700) when missing and, for [`Dir::Private`], checks that it is this user's and
/// writable by nobody else. Readers of a cache call it too before trusting what is inside.
///
/// # Errors
/// When the directory cannot be created, or is not private enough.
pub fn ensure_dir(dir: &Path, policy: Dir) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    if policy == Dir::Private {
        let meta = fs::symlink_metadata(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        if !meta.is_dir() {
            return Err(refused(dir, "it is not a directory (a symbolic link?)"));
        }
        let me = effective_uid()?;
        if meta.uid() != me {
            return Err(refused(
                dir,
                &format!(
                    "it belongs to uid {}, not to this user (uid {me})",
                    meta.uid()
                ),
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(refused(
                dir,
                &format!(
                    "other users can write to it (mode {:o}); run `chmod go-w {}`",
                    meta.mode() & 0o777,
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

/// The uid this process acts as: the owner of `/proc/self` (Linux gives a process's directory its
/// effective uid), which needs no `unsafe` call to `geteuid`.
pub fn effective_uid() -> io::Result<u32> {
    fs::metadata("/proc/self").map(|m| m.uid()).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot tell which user this process runs as (/proc/self): {e}"),
        )
    })
}

/// The file to replace: `path`, or for [`Links::FollowOwn`] the regular file its link chain
/// ends at, if this user owns it.
fn resolve(path: &Path, links: Links) -> io::Result<PathBuf> {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(path.to_path_buf());
    };
    if !meta.file_type().is_symlink() {
        return Ok(path.to_path_buf());
    }
    match links {
        Links::Refuse => Err(refused(
            path,
            "it is a symbolic link, and a file holding secrets is never written through one; remove the link or choose another path",
        )),
        Links::FollowOwn => {
            let target = fs::canonicalize(path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{}: cannot follow the link: {e}", path.display()),
                )
            })?;
            let meta = fs::symlink_metadata(&target)?;
            if !meta.is_file() {
                return Err(refused(
                    path,
                    &format!(
                        "the link leads to {}, which is not a regular file",
                        target.display()
                    ),
                ));
            }
            let me = effective_uid()?;
            if meta.uid() != me {
                return Err(refused(
                    path,
                    &format!(
                        "the link leads to {}, which belongs to uid {}, not to this user",
                        target.display(),
                        meta.uid()
                    ),
                ));
            }
            Ok(target)
        }
    }
}

/// A new file in `dir`, created with `O_EXCL` and mode 0600 (a name already taken, e.g. by a file
/// an attacker planted, is never opened: another name is tried).
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, fs::File)> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut last = None;
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let temp = dir.join(format!(".{name}.{}.{n}.{nanos}.tmp", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
        {
            Ok(file) => {
                // The umask may only take bits away; make sure of 0600 anyway.
                file.set_permissions(fs::Permissions::from_mode(0o600))?;
                return Ok((temp, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{}: cannot create a file there: {e}", dir.display()),
                ));
            }
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

fn refused(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("refusing to write {}: {why}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_0600_and_an_existing_one_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("creds");
        fs::write(&file, "old").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        write(&file, b"new", Links::Refuse, Dir::Any).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "new");
        assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }
}
