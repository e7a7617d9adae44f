//! Scripted pod behaviour: how each container of a pod behaves, chosen once when the pod is first
//! seen, so a test can make a rollout fail the way a real one does.
//!
//! The behaviour of a container comes from, first match wins:
//! 1. the pod's annotation `kube-sim.pipewright.dev/behaviour` (all its containers), with a value
//!    as in the table below (`crash-loop`, `slow-30s`, …);
//! 2. the rules in force (a scenario's `behaviours:` list, or set at run time with
//!    [`Behaviours::set`]/[`Behaviours::push`]), in order;
//! 3. the image, by convention:
//!
//! | image                                         | behaviour                                             |
//! |-----------------------------------------------|-------------------------------------------------------|
//! | tag `pull-error`, or under `invalid.example/` | `ErrImagePull`, then `ImagePullBackOff`, never starts |
//! | tag `crashloop`, `crash-loop` or `fail`       | exits 1 after 1 s: `CrashLoopBackOff` (a Job's pod fails) |
//! | tag `oom`                                     | killed after 1 s, `OOMKilled`, exit code 137, crash loop |
//! | tag `never-ready`                             | runs, readiness probe never passes (`Unhealthy` events) |
//! | tag `unschedulable`                           | never scheduled: `PodScheduled=False`, `FailedScheduling` |
//! | tag `slow-<N>s` (e.g. `slow-30s`)             | ready N simulated seconds after it starts              |
//! | tag `config-error`                            | `CreateContainerConfigError`, never starts             |
//! | anything else                                 | ready after 1 s (or the readiness probe's initial delay); a Job's pod exits 0 then |
//!
//! Whatever the behaviour, a container whose `env` or `envFrom` refers to a Secret or ConfigMap
//! (or a key of one) that does not exist when the pod is first seen, and is not `optional`, gets
//! `CreateContainerConfigError` with the kubelet's message, as a real kubelet reports it.
//!
//! Times are simulated seconds (see `clock.rs`), so a test can fast-forward through back-offs.

use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};

use serde::Deserialize;

/// The annotation that picks a pod's behaviour.
pub const ANNOTATION: &str = "kube-sim.pipewright.dev/behaviour";

/// What a container does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Behaviour {
    /// Starts at once and becomes ready after this many simulated seconds.
    Ready { after_secs: u64 },
    /// The image cannot be pulled: `ErrImagePull`, then `ImagePullBackOff`.
    PullError,
    /// Exits with an error shortly after each start; restarted with kubelet's back-off.
    CrashLoop,
    /// Killed for using too much memory shortly after each start; restarted with back-off.
    OomKilled,
    /// Runs, but its readiness probe never passes.
    NeverReady,
    /// No node fits it: the pod stays Pending, unscheduled.
    Unschedulable,
    /// Its configuration cannot be assembled (a missing Secret or ConfigMap, or a key of one):
    /// `CreateContainerConfigError`, never starts.
    ConfigError,
    /// A volume's Secret or ConfigMap is missing: the kubelet cannot mount it, reports
    /// `FailedMount` on the pod again and again, and the container stays `ContainerCreating`.
    MountError,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self::Ready { after_secs: 1 }
    }
}

impl FromStr for Behaviour {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim().to_ascii_lowercase();
        let seconds = |rest: &str| rest.strip_suffix('s').unwrap_or(rest).parse::<u64>().ok();
        let parsed = match text.as_str() {
            "ready" => Some(Self::default()),
            "pull-error" | "image-pull-error" | "err-image-pull" => Some(Self::PullError),
            "crash-loop" | "crashloop" | "fail" => Some(Self::CrashLoop),
            "oom" | "oom-killed" | "oomkilled" => Some(Self::OomKilled),
            "never-ready" => Some(Self::NeverReady),
            "unschedulable" => Some(Self::Unschedulable),
            "config-error" | "create-container-config-error" => Some(Self::ConfigError),
            "mount-error" | "failed-mount" => Some(Self::MountError),
            other => other
                .strip_prefix("slow-")
                .or_else(|| other.strip_prefix("ready-after-"))
                .and_then(seconds)
                .map(|after_secs| Self::Ready { after_secs }),
        };
        parsed.ok_or_else(|| {
            format!(
                "unknown behaviour {text:?}: use ready, slow-<N>s, pull-error, crash-loop, oom, never-ready, unschedulable, config-error or mount-error"
            )
        })
    }
}

impl TryFrom<String> for Behaviour {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready { after_secs } => write!(f, "slow-{after_secs}s"),
            Self::PullError => f.write_str("pull-error"),
            Self::CrashLoop => f.write_str("crash-loop"),
            Self::OomKilled => f.write_str("oom"),
            Self::NeverReady => f.write_str("never-ready"),
            Self::Unschedulable => f.write_str("unschedulable"),
            Self::ConfigError => f.write_str("config-error"),
            Self::MountError => f.write_str("mount-error"),
        }
    }
}

/// One rule of a scenario's `behaviours:` list, or set at run time:
///
/// ```yaml
/// behaviours:
///   - image: "registry.example/api:2.*"   # glob: `*` any run of characters, `?` one
///     behaviour: crash-loop
///     exitCode: 3
///     logs: ["panic: missing DATABASE_URL"]
///   - namespace: staging
///     pod: "worker-*"
///     behaviour: slow-30s
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// Glob on the container image as the pod spec writes it; every image when absent.
    #[serde(default)]
    pub image: Option<String>,
    /// Glob on the pod name; every pod when absent.
    #[serde(default)]
    pub pod: Option<String>,
    /// Exact namespace; every namespace when absent.
    #[serde(default)]
    pub namespace: Option<String>,
    pub behaviour: Behaviour,
    /// Exit code of a crashing container (default 1; OOM kills always exit 137).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Simulated seconds a crashing container runs before it exits (default 1).
    #[serde(default)]
    pub run_seconds: Option<u64>,
    /// Log lines each run of the container writes, instead of the built-in ones.
    #[serde(default)]
    pub logs: Vec<String>,
    /// Simulated seconds the container takes to stop after SIGTERM (default: about one); past
    /// the pod's grace period it is killed (exit code 137).
    #[serde(default)]
    pub stop_seconds: Option<u64>,
}

impl Rule {
    /// A rule for images matching `glob`.
    pub fn image(glob: &str, behaviour: Behaviour) -> Self {
        Self {
            image: Some(glob.to_owned()),
            ..Self::any(behaviour)
        }
    }

    /// A rule for every container.
    pub fn any(behaviour: Behaviour) -> Self {
        Self {
            image: None,
            pod: None,
            namespace: None,
            behaviour,
            exit_code: None,
            run_seconds: None,
            logs: Vec::new(),
            stop_seconds: None,
        }
    }

    #[must_use]
    pub fn with_stop_seconds(mut self, seconds: u64) -> Self {
        self.stop_seconds = Some(seconds);
        self
    }

    #[must_use]
    pub fn with_logs<I: IntoIterator<Item = S>, S: Into<String>>(mut self, lines: I) -> Self {
        self.logs = lines.into_iter().map(Into::into).collect();
        self
    }

    #[must_use]
    pub fn with_exit_code(mut self, code: i32) -> Self {
        self.exit_code = Some(code);
        self
    }

    fn matches(&self, namespace: &str, pod: &str, image: &str) -> bool {
        self.image.as_deref().is_none_or(|g| glob(g, image))
            && self.pod.as_deref().is_none_or(|g| glob(g, pod))
            && self.namespace.as_deref().is_none_or(|n| n == namespace)
    }
}

/// What one container will do: its behaviour and the details a rule gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub behaviour: Behaviour,
    pub exit_code: i32,
    pub run_secs: u64,
    /// Custom log lines; empty for the built-in ones.
    pub logs: Vec<String>,
    /// With [`Behaviour::ConfigError`] and [`Behaviour::MountError`]: what is missing, in the
    /// kubelet's words.
    pub config_error: Option<String>,
    /// How long it takes to stop after SIGTERM, when a rule says (simulated seconds).
    pub stop_secs: Option<u64>,
}

impl Script {
    fn plain(behaviour: Behaviour) -> Self {
        let exit_code = if behaviour == Behaviour::OomKilled {
            137
        } else {
            1
        };
        Self {
            behaviour,
            exit_code,
            run_secs: 1,
            logs: Vec::new(),
            config_error: None,
            stop_secs: None,
        }
    }

    /// A container whose configuration refers to something missing (`message` says what).
    pub fn config_error(message: String) -> Self {
        Self {
            config_error: Some(message),
            ..Self::plain(Behaviour::ConfigError)
        }
    }

    /// A container of a pod whose volume cannot be mounted (`message` says which and why).
    pub fn mount_error(message: String) -> Self {
        Self {
            config_error: Some(message),
            ..Self::plain(Behaviour::MountError)
        }
    }

    fn from_rule(rule: &Rule) -> Self {
        let mut script = Self::plain(rule.behaviour);
        if let Some(code) = rule.exit_code
            && rule.behaviour != Behaviour::OomKilled
        {
            script.exit_code = code;
        }
        script.run_secs = rule.run_seconds.unwrap_or(1).max(1);
        script.logs.clone_from(&rule.logs);
        script.stop_secs = rule.stop_seconds;
        script
    }
}

/// The rules in force, changeable at run time (pods already created keep their behaviour).
#[derive(Debug, Default)]
pub struct Behaviours {
    rules: Mutex<Vec<Rule>>,
}

impl Behaviours {
    pub fn new(rules: Vec<Rule>) -> Self {
        Self {
            rules: Mutex::new(rules),
        }
    }

    /// Replaces every rule.
    pub fn set(&self, rules: Vec<Rule>) {
        *self.rules.lock().unwrap_or_else(PoisonError::into_inner) = rules;
    }

    /// Adds a rule that wins over the existing ones.
    pub fn push(&self, rule: Rule) {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(0, rule);
    }

    pub fn clear(&self) {
        self.set(Vec::new());
    }

    pub fn rules(&self) -> Vec<Rule> {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The script of a container of a pod, from the pod's annotation, the rules, then the image
    /// conventions.
    pub fn script_for(
        &self,
        annotation: Option<&str>,
        namespace: &str,
        pod: &str,
        image: &str,
    ) -> Script {
        if let Some(behaviour) = annotation.and_then(|a| a.parse().ok()) {
            return Script::plain(behaviour);
        }
        let rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rule) = rules.iter().find(|r| r.matches(namespace, pod, image)) {
            return Script::from_rule(rule);
        }
        Script::plain(by_image(image))
    }
}

/// The built-in image conventions (see the module header).
pub fn by_image(image: &str) -> Behaviour {
    if image.starts_with("invalid.example/") {
        return Behaviour::PullError;
    }
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let tag = last.split_once(':').map_or("", |(_, t)| t);
    match tag {
        "pull-error" => Behaviour::PullError,
        "crashloop" | "crash-loop" | "fail" => Behaviour::CrashLoop,
        "oom" => Behaviour::OomKilled,
        "never-ready" => Behaviour::NeverReady,
        "unschedulable" => Behaviour::Unschedulable,
        "config-error" => Behaviour::ConfigError,
        "mount-error" => Behaviour::MountError,
        other => other
            .parse::<Behaviour>()
            .ok()
            .filter(|b| matches!(b, Behaviour::Ready { .. }) && other != "ready")
            .unwrap_or_default(),
    }
}

/// `*` matches any run of characters, `?` one; everything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_conventions() {
        assert_eq!(by_image("nginx:1.25"), Behaviour::Ready { after_secs: 1 });
        assert_eq!(
            by_image("registry:5000/api:crashloop"),
            Behaviour::CrashLoop
        );
        assert_eq!(by_image("invalid.example/app:1.0"), Behaviour::PullError);
        assert_eq!(
            by_image("app:slow-30s"),
            Behaviour::Ready { after_secs: 30 }
        );
        assert_eq!(by_image("app:oom"), Behaviour::OomKilled);
        assert_eq!(
            by_image("app:unschedulable@sha256:00"),
            Behaviour::Unschedulable
        );
        assert_eq!(
            by_image("localhost:5000/never-ready"),
            Behaviour::Ready { after_secs: 1 }
        );
    }

    #[test]
    fn annotation_then_rules_then_image() {
        let behaviours = Behaviours::new(vec![Rule::image("*:v2", Behaviour::NeverReady)]);
        assert_eq!(
            behaviours
                .script_for(Some("crash-loop"), "ns", "p", "app:v2")
                .behaviour,
            Behaviour::CrashLoop
        );
        assert_eq!(
            behaviours.script_for(None, "ns", "p", "app:v2").behaviour,
            Behaviour::NeverReady
        );
        assert_eq!(
            behaviours.script_for(None, "ns", "p", "app:oom").behaviour,
            Behaviour::OomKilled
        );
        behaviours.push(Rule::any(Behaviour::Unschedulable).with_exit_code(3));
        assert_eq!(
            behaviours.script_for(None, "ns", "p", "app:v2").behaviour,
            Behaviour::Unschedulable
        );
    }

    #[test]
    fn rules_read_from_yaml() {
        let rules: Vec<Rule> = serde_yaml_ng::from_str("- image: 'api:*'\n  behaviour: slow-5s\n- pod: 'w-*'\n  behaviour: oom\n  logs: [boom]\n").unwrap();
        assert_eq!(rules[0].behaviour, Behaviour::Ready { after_secs: 5 });
        assert_eq!(rules[1].logs, vec!["boom".to_owned()]);
        assert!(serde_yaml_ng::from_str::<Vec<Rule>>("- behaviour: dance\n").is_err());
    }

    #[test]
    fn globs() {
        assert!(glob("*:v2", "registry/app:v2"));
        assert!(glob("app-?", "app-1"));
        assert!(!glob("app-?", "app-10"));
        assert!(glob("*", ""));
        assert!(!glob("a*c", "abd"));
    }
}
