//! moto in server mode: a local AWS (STS, IAM, EKS, CloudFormation, S3) for the tools' tests.

use std::fs::File;
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{LEAK_MARKER, free_port, log_tail, other};
use crate::venv;
use crate::wait::wait_until;

/// The region moto is told to use, and the dummy credentials it accepts.
pub const REGION: &str = "us-east-1";
const DUMMY_KEY_ID: &str = "AKIATESTBEDEXAMPLE01";
const DUMMY_SECRET: &str = "testbed-dummy-secret-key";

/// A running `moto_server`, stopped when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it accepts connections.
    pub fn start() -> std::io::Result<Self> {
        let venv = venv::ensure()?;
        let mut last_error = None;
        // A port found free can be taken before moto binds it; a fresh one usually works.
        for _ in 0..3 {
            match Self::start_once(&venv) {
                Ok(moto) => return Ok(moto),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| other("moto did not start")))
    }

    fn start_once(venv: &std::path::Path) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{LEAK_MARKER}-moto-"))
            .tempdir()?;
        let port = free_port()?;
        let log_path = dir.path().join("moto.log");
        let log = File::create(&log_path)?;
        let mut child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                other(format!(
                    "cannot start moto_server from {}: {e}",
                    venv.display()
                ))
            })?;
        let ready = wait_until("moto_server to listen", Duration::from_mins(1), || {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(Err(status));
            }
            TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .ok()
                .map(|_| Ok(()))
        });
        match ready {
            Ok(Ok(())) => Ok(Self { child, port, dir }),
            Ok(Err(status)) => Err(other(format!(
                "moto_server exited ({status}):\n{}",
                log_tail(&log_path, 20)
            ))),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(other(format!("{e}:\n{}", log_tail(&log_path, 20))))
            }
        }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment an AWS SDK or CLI needs to use this moto: endpoint, region, dummy
    /// credentials, and no shared config or IMDS lookups from the real machine.
    pub fn env(&self) -> Vec<(String, String)> {
        // An empty file, not a missing one: the SDKs warn about a config file that does not exist.
        let config = self.dir.path().join("empty-aws-config");
        if !config.exists() {
            let _ = std::fs::write(&config, "");
        }
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", DUMMY_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET.to_owned()),
            ("AWS_CONFIG_FILE", config.display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", config.display().to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
