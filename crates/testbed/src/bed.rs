//! The demo's bed: every stand-in the real deploy pipeline talks to, on loopback, wired together
//! the way the real services are.
//!
//! - moto (AWS): the EKS cluster exists (`DescribeCluster` answers `ACTIVE`), the deploy role
//!   exists with a trust policy for the OIDC issuer, and STS verifies EKS tokens;
//! - `kube-sim serve --eks-cluster … --sts-endpoint <moto>`: a Kubernetes API that, like EKS,
//!   accepts only EKS tokens for its cluster name, verified by replaying them to STS;
//! - [`GitHubOidc`]: GitHub's token service, handing out signed JWTs to the bearer of the
//!   request token.
//!
//! kube-sim runs as its own process (the binary), not as a library: the library would make
//! testbed depend on kube-sim, whose tests depend on testbed, compiling kube-sim twice into every
//! kube-sim test.
//!
//! [`Bed::write_files`] writes what a shell needs to use the bed: `env` (the variables
//! `scripts/deploy.sh` reads, as a workflow would have them; no AWS keys), `aws-config` (a profile
//! `operator` with moto's static keys: an operator's laptop), and `ca.crt` (the API server's CA,
//! which `eks-token kubeconfig --certificate-authority` writes in place of moto's fictional one).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::moto::{Moto, REGION};
use crate::oidc::{GitHubOidc, Workflow};
use crate::process::{LEAK_MARKER, other};

/// moto's account.
pub const ACCOUNT: &str = "123456789012";
/// The profile in the bed's `aws-config` with static keys (the operator's laptop).
pub const OPERATOR_PROFILE: &str = "operator";

/// What to start.
#[derive(Debug, Clone)]
pub struct BedOptions {
    /// The `kube-sim` binary.
    pub kube_sim: PathBuf,
    /// The environment the cluster serves (`development`): names the cluster, the role and the
    /// GitHub environment in the token's `sub`.
    pub environment: String,
    /// A kube-sim scenario file (pace, nodes, behaviours).
    pub scenario: Option<PathBuf>,
}

impl BedOptions {
    pub fn new(kube_sim: impl Into<PathBuf>) -> Self {
        Self {
            kube_sim: kube_sim.into(),
            environment: "development".to_owned(),
            scenario: None,
        }
    }

    /// `cloudtolocalllm-<environment>`, as `scripts/deploy.sh` names the cluster by default.
    pub fn cluster(&self) -> String {
        format!("cloudtolocalllm-{}", self.environment)
    }

    pub fn role_arn(&self) -> String {
        format!(
            "arn:aws:iam::{ACCOUNT}:role/cloudtolocalllm-deploy-{}",
            self.environment
        )
    }
}

/// A running bed; dropping it stops kube-sim, the token service and moto.
#[derive(Debug)]
pub struct Bed {
    options: BedOptions,
    moto: Moto,
    oidc: GitHubOidc,
    kube_sim: Child,
    server: String,
    ca_pem: String,
    _dir: tempfile::TempDir,
}

impl Bed {
    /// Starts moto, creates the cluster and the role in it, starts the token service and
    /// kube-sim, and returns once all of them answer.
    pub fn start(options: BedOptions) -> std::io::Result<Self> {
        let moto = Moto::start()?;
        create_aws_resources(&moto, &options)?;
        let oidc = GitHubOidc::start(Workflow {
            environment: Some(options.environment.clone()),
            ..Workflow::default()
        })?;
        // The marker in kube-sim's command line lets `pgrep -f pipewright-testbed` find it.
        let dir = tempfile::Builder::new()
            .prefix(&format!("{LEAK_MARKER}-bed-"))
            .tempdir()?;
        let (kube_sim, ready) = start_kube_sim(&options, &moto, dir.path())?;
        let field = |name: &str| ready.get(name).and_then(Value::as_str).map(str::to_owned);
        let (Some(server), Some(ca_pem)) = (field("server"), field("ca")) else {
            return Err(other(format!(
                "kube-sim's ready line has no server or ca: {ready}"
            )));
        };
        Ok(Self {
            options,
            moto,
            oidc,
            kube_sim,
            server,
            ca_pem,
            _dir: dir,
        })
    }

    pub fn options(&self) -> &BedOptions {
        &self.options
    }

    pub fn moto(&self) -> &Moto {
        &self.moto
    }

    pub fn oidc(&self) -> &GitHubOidc {
        &self.oidc
    }

    /// kube-sim's `https://127.0.0.1:PORT`.
    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The variables a deploy job has (given `dir` where [`Bed::write_files`] wrote the CA and the
    /// AWS config): the GitHub token service, the role, the region, the AWS endpoint, the
    /// cluster, and the server and CA overrides. No AWS keys: those come from oidc-creds.
    pub fn deploy_env(&self, dir: &Path) -> Vec<(String, String)> {
        let path = |name: &str| dir.join(name).display().to_string();
        [
            ("ACTIONS_ID_TOKEN_REQUEST_URL", self.oidc.request_url()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                self.oidc.request_token().to_owned(),
            ),
            ("AWS_ROLE_ARN", self.options.role_arn()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("AWS_ENDPOINT_URL", self.moto.endpoint()),
            ("AWS_CONFIG_FILE", path("aws-config")),
            ("AWS_SHARED_CREDENTIALS_FILE", path("aws-credentials")),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("EKS_CLUSTER", self.options.cluster()),
            ("EKS_SERVER_URL", self.server.clone()),
            ("EKS_CA_FILE", path("ca.crt")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Writes `env`, `aws-config`, `aws-credentials` and `ca.crt` into `dir` (created 0700;
    /// the files 0600, as they hold the request token and the operator's keys).
    pub fn write_files(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let env = self
            .deploy_env(dir)
            .iter()
            .fold(String::new(), |mut text, (k, v)| {
                let _ = writeln!(text, "export {k}={}", shell_quote(v));
                text
            });
        write_private(&dir.join("env"), &env)?;
        let moto_env = self.moto.env();
        let moto_var = |name: &str| {
            moto_env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        write_private(
            &dir.join("aws-config"),
            &format!(
                "[profile {OPERATOR_PROFILE}]\nregion = {REGION}\naws_access_key_id = {}\naws_secret_access_key = {}\n",
                moto_var("AWS_ACCESS_KEY_ID"),
                moto_var("AWS_SECRET_ACCESS_KEY")
            ),
        )?;
        write_private(&dir.join("aws-credentials"), "")?;
        write_private(&dir.join("ca.crt"), &self.ca_pem)
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = self.kube_sim.kill();
        let _ = self.kube_sim.wait();
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}

/// Single-quoted for POSIX shells.
pub(crate) fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn start_kube_sim(
    options: &BedOptions,
    moto: &Moto,
    dir: &Path,
) -> std::io::Result<(Child, Value)> {
    let log_path = dir.join("kube-sim.log");
    let mut command = Command::new(&options.kube_sim);
    command
        .args(["serve", "--eks-cluster", &options.cluster()])
        .args(["--sts-endpoint", &moto.endpoint()])
        .arg("--kubeconfig-out")
        .arg(dir.join("kube-sim.kubeconfig"));
    if let Some(scenario) = &options.scenario {
        command.arg("--scenario").arg(scenario);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()
        .map_err(|e| {
            other(format!(
                "cannot start {}: {e} (build it with `cargo build -p kube-sim`)",
                options.kube_sim.display()
            ))
        })?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(other("kube-sim's stdout was not captured"));
    };
    match read_ready_line(stdout, Duration::from_mins(1)) {
        Ok(ready) => Ok((child, ready)),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(other(format!(
                "kube-sim did not start: {e}\n{}",
                crate::process::log_tail(&log_path, 20)
            )))
        }
    }
}

/// The first stdout line, parsed, within `deadline`. The reader thread keeps draining stdout
/// afterwards so that kube-sim never blocks on a full pipe.
fn read_ready_line(stdout: ChildStdout, deadline: Duration) -> std::io::Result<Value> {
    let (send, receive) = mpsc::channel();
    std::thread::Builder::new()
        .name("kube-sim-stdout".to_owned())
        .spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = send.send(lines.next());
            for _ in lines {}
        })?;
    match receive.recv_timeout(deadline) {
        Ok(Some(Ok(line))) => serde_json::from_str(&line)
            .map_err(|e| other(format!("its ready line is not JSON ({e}): {line}"))),
        Ok(Some(Err(e))) => Err(e),
        Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(other("it exited before printing its ready line"))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(other(format!("no ready line within {deadline:?}")))
        }
    }
}

/// The EKS cluster (so `DescribeCluster` answers) and the deploy role (so the role ARN names
/// something real), created with moto's static keys.
fn create_aws_resources(moto: &Moto, options: &BedOptions) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let env = moto.env();
        let var = |name: &str| {
            env.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(moto.endpoint())
            .credentials_provider(aws_credential_types::Credentials::new(
                var("AWS_ACCESS_KEY_ID"),
                var("AWS_SECRET_ACCESS_KEY"),
                None,
                None,
                "testbed",
            ))
            .load()
            .await;
        let cluster = options.cluster();
        aws_sdk_eks::Client::new(&config)
            .create_cluster()
            .name(&cluster)
            .version("1.33")
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{cluster}-cluster"))
            .resources_vpc_config(
                aws_sdk_eks::types::VpcConfigRequest::builder()
                    .subnet_ids("subnet-0123456789abcdef0")
                    .subnet_ids("subnet-0123456789abcdef1")
                    .endpoint_private_access(true)
                    .endpoint_public_access(false)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| other(format!("moto: eks:CreateCluster {cluster}: {e:?}")))?;
        let role = options
            .role_arn()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:sub": format!("repo:{}:environment:{}", Workflow::default().repository, options.environment),
                }},
            }],
        });
        aws_sdk_iam::Client::new(&config)
            .create_role()
            .role_name(&role)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .map_err(|e| other(format!("moto: iam:CreateRole {role}: {e:?}")))?;
        Ok(())
    })
}
