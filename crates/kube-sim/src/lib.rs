//! kube-sim: a Kubernetes API server simulator for tests and local demos.
//!
//! It serves the Kubernetes API over HTTPS on loopback faithfully enough that kubectl and the
//! kube crate cannot tell the difference for everything pipewright does: discovery, OpenAPI,
//! CRUD, list/watch, server-side apply with field managers, and controllers that make rollouts
//! progress, and fail, like a real cluster's. See `docs/kube-sim.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let sim = kube_sim::KubeSim::start(kube_sim::Config::default())?;
//! let client = sim.client().await?;
//! // … kube::Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client, "default") …
//! // `KUBECONFIG=<sim.kubeconfig_path()> kubectl get ns` works too.
//! # Ok(()) }
//! ```

pub mod api;
pub mod apply;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod controllers;
pub mod defaults;
pub mod eks_auth;
pub mod faults;
pub mod kubeconfig;
pub mod openapi;
pub mod protobuf;
pub mod rbac;
pub mod requests;
pub mod resources;
pub mod scenario;
pub mod selectors;
pub mod server;
pub mod sim;
pub mod store;
pub mod tls;
pub mod validation;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::watch;

pub use clock::Clock;
pub use eks_auth::EksAuth;
pub use faults::{FaultState, Faults};
pub use scenario::Scenario;
pub use sim::{ClusterSettings, Sim};

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct Config {
    /// 0 picks a free port.
    pub port: u16,
    /// The bearer token clients present (written into the kubeconfig). `None` with `eks` set
    /// accepts EKS tokens only.
    pub token: Option<String>,
    /// Accept EKS tokens, verified against this STS endpoint.
    pub eks: Option<EksAuth>,
    /// Where to write the kubeconfig; by default a file in a temporary directory that lives as
    /// long as the simulator.
    pub kubeconfig_path: Option<PathBuf>,
    /// Watch history kept for resuming (older resourceVersions get 410 Gone).
    pub history: usize,
    pub scenario: Scenario,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: 0,
            token: Some(format!("kube-sim-{}", uuid::Uuid::new_v4().simple())),
            eks: None,
            kubeconfig_path: None,
            history: store::DEFAULT_HISTORY,
            scenario: Scenario::default(),
        }
    }
}

/// A running simulator. Dropping it stops the server and its controllers.
#[derive(Debug)]
pub struct KubeSim {
    sim: Arc<Sim>,
    address: SocketAddr,
    kubeconfig: PathBuf,
    token: Option<String>,
    ca_pem: String,
    _dir: Option<tempfile::TempDir>,
    shutdown: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl KubeSim {
    /// Starts the server on its own thread (so sync and async tests can both use it) and returns
    /// once it accepts connections.
    pub fn start(config: Config) -> std::io::Result<Self> {
        let tls = tls::generate().map_err(std::io::Error::other)?;
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;

        let scenario = &config.scenario;
        let clock = Clock::new(scenario.pace.unwrap_or(1.0));
        let defaults = ClusterSettings::default();
        let settings = ClusterSettings {
            nodes: scenario.nodes.unwrap_or(defaults.nodes),
            load_balancer_delay_secs: scenario
                .load_balancer_delay_seconds
                .unwrap_or(defaults.load_balancer_delay_secs),
            cluster_name: scenario
                .cluster_name
                .clone()
                .unwrap_or(defaults.cluster_name),
        };
        let mut store = store::Store::new(config.history, &clock.now_rfc3339());
        let authorization = scenario.authorization.unwrap_or_default();
        if authorization == rbac::Mode::Rbac {
            rbac::bootstrap::seed(&mut store, &clock.now_rfc3339());
        }
        let sim = Arc::new(Sim::new(
            store,
            clock,
            FaultState::new(scenario.faults.clone()),
            settings,
            controllers::behaviour::Behaviours::new(scenario.behaviours.clone()),
        ));
        let auth = Arc::new(
            auth::Authenticator::new(config.token.clone(), config.eks.clone()).with_identities(
                scenario.users.clone(),
                scenario.access_entries.clone(),
                authorization,
            ),
        );

        let (dir, kubeconfig) = if let Some(path) = &config.kubeconfig_path {
            (None, path.clone())
        } else {
            let dir = tempfile::Builder::new().prefix("kube-sim-").tempdir()?;
            let path = dir.path().join("kubeconfig");
            (Some(dir), path)
        };
        let server_url = format!("https://{address}");
        kubeconfig::write(
            &kubeconfig,
            "kube-sim",
            &server_url,
            &tls.ca_pem,
            config.token.as_deref().unwrap_or(""),
            &scenario
                .users
                .iter()
                .map(|u| (u.name.as_str(), u.token.as_str()))
                .collect::<Vec<_>>(),
        )?;

        let server_config = Arc::clone(&tls.server_config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (shutdown, stop) = watch::channel(false);
        let server_sim = Arc::clone(&sim);
        let thread = std::thread::Builder::new()
            .name(format!("kube-sim-{}", address.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::spawn(controllers::run(Arc::clone(&server_sim)));
                    server::serve(listener, server_config, server_sim, auth, stop).await;
                });
                // Ends controller tasks and open watches with the runtime.
                runtime.shutdown_background();
            })?;
        Ok(Self {
            sim,
            address,
            kubeconfig,
            token: config.token,
            ca_pem: tls.ca_pem,
            _dir: dir,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The kubeconfig written for this simulator.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The bearer token clients present.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The CA certificate (PEM) that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A kube client configured from the kubeconfig, as a kubectl user's tools would be.
    pub async fn client(&self) -> Result<kube::Client, Box<dyn std::error::Error + Send + Sync>> {
        self.client_for_context(None).await
    }

    /// A kube client acting as one of the scenario's users (its kubeconfig context), or as the
    /// administrator for `None`.
    pub async fn client_for_context(
        &self,
        context: Option<&str>,
    ) -> Result<kube::Client, Box<dyn std::error::Error + Send + Sync>> {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_owned),
            ..kube::config::KubeConfigOptions::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// The shared state: store, clock, faults, behaviours.
    pub fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }

    pub fn clock(&self) -> &Clock {
        &self.sim.clock
    }

    pub fn faults(&self) -> &FaultState {
        &self.sim.faults
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
