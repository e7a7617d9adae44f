//! A throwaway PostgreSQL cluster: `initdb` in a temporary directory, the server on a free
//! loopback port with its unix socket beside the data, password authentication over TCP.
//!
//! PostgreSQL refuses to run as root. When the tests run as root (CI containers do), the cluster
//! is created and run as the `postgres` user that Debian's package creates (else `nobody`), using
//! the standard library's `Command::uid`/`gid`, so no `sudo`/`runuser` is needed.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::paths::non_empty_env;
use crate::process::{LEAK_MARKER, free_port, log_tail, other};
use crate::wait::wait_until;

/// The superuser and database of the cluster.
pub const USER: &str = "postgres";
pub const DATABASE: &str = "postgres";

/// A running PostgreSQL server, stopped and deleted when dropped.
#[derive(Debug)]
pub struct Postgres {
    child: Child,
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    password: String,
    run_as: Option<(u32, u32)>,
}

impl Postgres {
    /// Creates a cluster and starts it; waits until it accepts connections.
    pub fn start() -> std::io::Result<Self> {
        let bin = bin_dir()?;
        let run_as = unprivileged_user()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{LEAK_MARKER}-pg-"))
            .tempdir()?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        }
        let password = random_password()?;
        let pwfile = dir.path().join("pwfile");
        fs::write(&pwfile, &password)?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid))?;
        }
        let initdb_log = dir.path().join("initdb.log");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.path().join("data"))
            .args([
                "-U",
                USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
            ])
            .args(["--locale=C", "--no-sync", "--no-instructions"])
            .arg(format!("--pwfile={}", pwfile.display()));
        run_as_user(&mut initdb, run_as);
        let log = File::create(&initdb_log)?;
        let status = initdb
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .status()?;
        fs::remove_file(&pwfile)?;
        if !status.success() {
            return Err(other(format!(
                "initdb failed ({status}):\n{}",
                log_tail(&initdb_log, 20)
            )));
        }

        let mut last_error = None;
        // The free port can be taken before the server binds it: try a fresh one.
        for _ in 0..3 {
            match start_server(&bin, dir.path(), run_as) {
                Ok((child, port)) => {
                    return Ok(Self {
                        child,
                        dir,
                        bin,
                        port,
                        password,
                        run_as,
                    });
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| other("postgres did not start")))
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// The cluster's data directory (inside a temporary directory deleted on drop).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The directory of the PostgreSQL programs (`pg_dump`, `psql`, …) this server came from.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// A libpq/tokio-postgres key=value connection string.
    pub fn connection_string(&self) -> String {
        format!(
            "host={} port={} user={USER} password={} dbname={DATABASE}",
            self.host(),
            self.port,
            self.password
        )
    }

    /// The standard libpq variables for this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("PGHOST", self.host().to_owned()),
            ("PGPORT", self.port.to_string()),
            ("PGUSER", USER.to_owned()),
            ("PGPASSWORD", self.password.clone()),
            ("PGDATABASE", DATABASE.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // A fast shutdown ends the backends too; a SIGKILL of the postmaster alone would not.
        let mut stop = Command::new(self.bin.join("pg_ctl"));
        stop.arg("stop")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "fast", "-w", "-t", "20"]);
        run_as_user(&mut stop, self.run_as);
        let stopped = stop
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn start_server(
    bin: &Path,
    dir: &Path,
    run_as: Option<(u32, u32)>,
) -> std::io::Result<(Child, u16)> {
    let port = free_port()?;
    let log_path = dir.join(format!("server-{port}.log"));
    let log = File::create(&log_path)?;
    if let Some((uid, gid)) = run_as {
        std::os::unix::fs::chown(&log_path, Some(uid), Some(gid))?;
    }
    let mut server = Command::new(bin.join("postgres"));
    server
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args(["-c", "listen_addresses=127.0.0.1"])
        // Durability is not what these tests are about; speed is.
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]);
    run_as_user(&mut server, run_as);
    let mut child = server
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let ready = wait_until(
        "postgres to accept connections",
        Duration::from_secs(30),
        || {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(Err(status));
            }
            let ok = Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-t", "1"])
                .status()
                .is_ok_and(|s| s.success());
            ok.then_some(Ok(()))
        },
    );
    match ready {
        Ok(Ok(())) => Ok((child, port)),
        Ok(Err(status)) => Err(other(format!(
            "postgres exited ({status}):\n{}",
            log_tail(&log_path, 20)
        ))),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(other(format!("{e}:\n{}", log_tail(&log_path, 20))))
        }
    }
}

fn run_as_user(command: &mut Command, run_as: Option<(u32, u32)>) {
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
    }
}

/// The server programs: `$PIPEWRIGHT_PG_BIN`, else the newest `/usr/lib/postgresql/<ver>/bin`.
fn bin_dir() -> std::io::Result<PathBuf> {
    if let Some(dir) = non_empty_env("PIPEWRIGHT_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| other(format!("PostgreSQL server binaries not found in /usr/lib/postgresql ({e}); install Debian's `postgresql` package or set PIPEWRIGHT_PG_BIN")))?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| other("no initdb under /usr/lib/postgresql/*/bin; install Debian's `postgresql` package or set PIPEWRIGHT_PG_BIN"))
}

/// `Some((uid, gid))` of the user to run PostgreSQL as when we are root, `None` otherwise.
fn unprivileged_user() -> std::io::Result<Option<(u32, u32)>> {
    // The owner of /proc/self is this process's effective user: no libc call needed.
    if fs::metadata("/proc/self")?.uid() != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd")?;
    let find = |name: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() > 3 && fields[0] == name)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
    };
    find("postgres")
        .or_else(|| find("nobody"))
        .map(Some)
        .ok_or_else(|| other("running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as"))
}

/// A password nobody could guess, from the kernel's random source.
fn random_password() -> std::io::Result<String> {
    let mut bytes = [0u8; 18];
    std::io::Read::read_exact(&mut File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    }))
}
