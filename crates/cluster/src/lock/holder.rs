//! Who holds a deploy lock: the pipeline run, so that every step of one run re-enters it.

use std::fmt;

use stage::Env;

use crate::release::record::github_run_url;

/// The identity written into the Lease's `holderIdentity`, and where people can see that run.
///
/// In order: an explicit `--lock-holder`; `PIPEWRIGHT_LOCK_HOLDER`; under GitHub Actions
/// `github:<owner/repo>/<run id>/<attempt>` (every job and step of one run attempt is one holder;
/// matrix jobs deploying the same release must set their own); elsewhere
/// `local:<host>:<process group>`, the shell job: every command of one command line or one
/// script (`k8s-apply … | rollout-wait || (k8s-apply rollback … | rollout-wait)`), subshells
/// included, is in the same process group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    id: String,
    url: Option<String>,
}

impl Holder {
    pub fn new(id: impl Into<String>, url: Option<String>) -> Self {
        Self { id: id.into(), url }
    }

    /// The holder for this run; `explicit` is the tool's `--lock-holder`.
    pub fn from_env(env: &Env, explicit: Option<&str>) -> Self {
        let var = |name: &str| env.get(name).filter(|v| !v.is_empty());
        if let Some(id) = explicit.filter(|v| !v.is_empty()) {
            return Self::new(id, None);
        }
        if let Some(id) = var("PIPEWRIGHT_LOCK_HOLDER") {
            return Self::new(id, None);
        }
        if var("GITHUB_ACTIONS") == Some("true")
            && let (Some(repository), Some(run_id)) =
                (var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID"))
        {
            let attempt = var("GITHUB_RUN_ATTEMPT").unwrap_or("1");
            let url = github_run_url(
                var("GITHUB_SERVER_URL"),
                Some(repository),
                Some(run_id),
                Some(attempt),
            );
            return Self::new(format!("github:{repository}/{run_id}/{attempt}"), url);
        }
        Self::new(format!("local:{}:{}", hostname(env), process_group()), None)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The holder's run page, when it is a GitHub run.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.url {
            Some(url) => write!(f, "{} ({url})", self.id),
            None => f.write_str(&self.id),
        }
    }
}

/// This machine's name: the kernel's, else `HOSTNAME`, else `localhost`.
pub(crate) fn hostname(env: &Env) -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            env.get("HOSTNAME")
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Our process group (Linux: from `/proc/self/stat`), else our parent's pid: the shell that ran
/// us, which is right for a simple pipeline though not across subshells.
fn process_group() -> u32 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| process_group_from_stat(&stat))
        .unwrap_or_else(std::os::unix::process::parent_id)
}

/// The fifth field of `/proc/<pid>/stat`. The second is the command name in parentheses, which
/// may itself hold spaces and parentheses, so fields are counted from the last `)`.
fn process_group_from_stat(stat: &str) -> Option<u32> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // state, ppid, pgrp
    after_name.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_github_run_is_one_holder_with_its_page() {
        let env = Env::default()
            .with("GITHUB_ACTIONS", "true")
            .with("GITHUB_REPOSITORY", "acme/shop")
            .with("GITHUB_RUN_ID", "4242")
            .with("GITHUB_RUN_ATTEMPT", "3");
        let holder = Holder::from_env(&env, None);
        assert_eq!(holder.id(), "github:acme/shop/4242/3");
        assert_eq!(
            holder.url(),
            Some("https://github.com/acme/shop/actions/runs/4242/attempts/3")
        );
        assert!(holder.to_string().contains("https://github.com/acme/shop"));
    }

    #[test]
    fn explicit_then_variable_then_github_then_local() {
        let env = Env::default()
            .with("PIPEWRIGHT_LOCK_HOLDER", "team-a")
            .with("GITHUB_ACTIONS", "true")
            .with("GITHUB_REPOSITORY", "acme/shop")
            .with("GITHUB_RUN_ID", "1");
        assert_eq!(Holder::from_env(&env, Some("mine")).id(), "mine");
        assert_eq!(Holder::from_env(&env, Some("")).id(), "team-a");
        let local = Holder::from_env(&Env::default(), None);
        assert!(local.id().starts_with("local:"), "{}", local.id());
        assert_eq!(local, Holder::from_env(&Env::default(), None));
    }

    #[test]
    fn process_group_is_read_past_a_tricky_command_name() {
        let stat = "12345 (my (odd) tool) S 100 4242 4242 34816 4242 4194304 0 0";
        assert_eq!(process_group_from_stat(stat), Some(4242));
        assert_eq!(process_group_from_stat("garbage"), None);
    }

    #[test]
    fn every_process_of_one_shell_job_is_the_same_local_holder() {
        // A child in our process group (the default for a child) must compute our identity.
        let ours = process_group();
        let out = std::process::Command::new("sh")
            .args(["-c", "cut -d' ' -f5 /proc/self/stat"])
            .output()
            .unwrap();
        let child: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(child, ours);
    }
}
