//! Running the real `eks-token` binary as a test would from a clean shell: environment cleared
//! (only what the test passes, plus a private HOME), instance metadata off (no lookups beyond
//! loopback), stdout parsed as the one JSON document, stderr kept for assertions.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Dummy long-term credentials: signing is local, nothing checks them.
pub const KEY_ID: &str = "AKIDEXAMPLE";
pub const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const SESSION_TOKEN: &str = "FQoGZXIvYXdzEXAMPLE/session+token=";
pub const FROZEN: &str = "2026-01-01T00:00:00Z";

pub fn eks_token_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_eks-token"))
}

/// One run's outcome.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn doc(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn token(&self) -> String {
        let doc = self.doc();
        doc["status"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {doc}\nstderr:\n{}", self.stderr))
            .to_owned()
    }

    /// The presigned URL inside the token.
    pub fn url(&self) -> String {
        eks_token::url_from_token(&self.token()).expect("the token decodes to a URL")
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A command line to run, with its own HOME (so the token cache and ~/.kube are the test's).
/// Clones share the HOME, and so the cache: a second run of the same setup.
#[derive(Clone)]
pub struct EksToken {
    pub home: std::sync::Arc<tempfile::TempDir>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
}

impl EksToken {
    /// No credentials, no region: only HOME and the switches that keep the SDK off the network.
    pub fn bare() -> Self {
        let home = tempfile::tempdir().expect("a temporary HOME");
        let home_path = home.path().display().to_string();
        // An empty file rather than none: aws-config warns about a missing one.
        let nothing = home.path().join("empty-aws-config");
        std::fs::write(&nothing, "").expect("an empty AWS config file");
        let this = Self {
            env: Vec::new(),
            stdin: None,
            home: std::sync::Arc::new(home),
        };
        this.env("HOME", &home_path)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", &nothing.display().to_string())
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                &nothing.display().to_string(),
            )
    }

    /// Dummy environment credentials and a region.
    pub fn with_env_credentials() -> Self {
        Self::bare()
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "eu-west-1")
    }

    #[must_use]
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    #[must_use]
    pub fn envs(mut self, vars: &[(String, String)]) -> Self {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    #[must_use]
    pub fn without(mut self, name: &str) -> Self {
        self.env.retain(|(k, _)| k != name);
        self
    }

    #[must_use]
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    #[must_use]
    pub fn frozen_at(self, time: &str) -> Self {
        self.env(eks_token::FROZEN_TIME_VAR, time)
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.home.path().join(".cache/pipewright/eks-token")
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let mut command = assert_cmd::Command::new(eks_token_path());
        command.env_clear().args(args);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        // A test's stdin is empty unless it pipes something: like a CI step with nothing piped.
        command.write_stdin(self.stdin.clone().unwrap_or_default());
        let output = command.output().expect("eks-token runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A query parameter of a URL (raw, still percent-encoded).
pub fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The Python of the test venv (moto, botocore, awscli), or a panic saying why not.
pub fn venv_python() -> PathBuf {
    testbed::venv::ensure()
        .expect("the test venv (scripts/python-requirements.txt)")
        .join("bin/python")
}

/// Mode bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}
