//! The Python venv that holds moto (and the reference AWS implementations tests compare with).
//!
//! Its packages are pinned in `scripts/python-requirements.txt`. The venv lives in the
//! [`cache_dir`](crate::cache_dir) under a name derived from that file's contents, so a changed pin
//! makes a new venv and an unchanged one is reused across runs and clones. It is built under a
//! file lock and marked complete last, so parallel tests never use a half-installed venv.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::paths::{cache_dir, non_empty_env, workspace_root};
use crate::process::{LEAK_MARKER, log_tail, other};

/// The requirements file, relative to the workspace root.
pub const REQUIREMENTS: &str = "scripts/python-requirements.txt";

/// The venv directory for the current requirements, creating it if needed.
/// `$PIPEWRIGHT_VENV` names an existing venv to use instead.
pub fn ensure() -> std::io::Result<PathBuf> {
    if let Some(dir) = non_empty_env("PIPEWRIGHT_VENV") {
        return Ok(PathBuf::from(dir));
    }
    let requirements_path = workspace_root().join(REQUIREMENTS);
    let requirements = fs::read(&requirements_path)
        .map_err(|e| other(format!("cannot read {}: {e}", requirements_path.display())))?;
    let cache = cache_dir();
    fs::create_dir_all(&cache)?;
    let venv = cache.join(format!("{LEAK_MARKER}-venv-{:016x}", fnv1a(&requirements)));
    if is_complete(&venv) {
        return Ok(venv);
    }

    let lock = File::create(cache.join(format!("{LEAK_MARKER}-venv.lock")))?;
    lock.lock()?;
    if is_complete(&venv) {
        return Ok(venv);
    }
    eprintln!(
        "testbed: creating the Python venv for moto in {} (once per set of pins; needs PyPI)",
        venv.display()
    );
    // Built in place (a venv's scripts name their interpreter by absolute path); the marker
    // written last tells a finished venv from an interrupted one, which is rebuilt.
    if venv.exists() {
        fs::remove_dir_all(&venv)?;
    }
    let log = cache.join(format!("{LEAK_MARKER}-venv-install.log"));
    let python = non_empty_env("PIPEWRIGHT_PYTHON").unwrap_or_else(|| "python3".to_owned());
    run_logged(Command::new(&python).arg("-m").arg("venv").arg(&venv), &log)?;
    run_logged(
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
            ])
            .arg(&requirements_path),
        &log,
    )?;
    fs::write(venv.join(COMPLETE), &requirements)?;
    Ok(venv)
}

/// Written last: a venv without it was interrupted and is rebuilt.
const COMPLETE: &str = "pipewright-complete";

fn is_complete(venv: &Path) -> bool {
    venv.join(COMPLETE).is_file()
}

fn run_logged(command: &mut Command, log: &Path) -> std::io::Result<()> {
    let out = File::create(log)?;
    let status = command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .map_err(|e| other(format!("cannot run {command:?}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(other(format!(
            "{command:?} failed ({status}); last lines of {}:\n{}",
            log.display(),
            log_tail(log, 20)
        )))
    }
}

/// A stable 64-bit hash (FNV-1a): the standard library's hasher may change between releases.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
