//! The deploy-lock flags of every command that writes a release (k8s-apply's apply, rollback and
//! uninstall, rollout-wait's settling), declared once so their names, help and defaults agree.

use std::time::Duration;

use stage::Env;

use super::{Holder, LockOptions};

/// `--lock-holder`, `--lock-timeout`, `--lock-ttl`.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct LockArgs {
    /// Who holds the deploy lock [default: the GitHub run, else this shell job]
    #[arg(long, value_name = "ID", env = "PIPEWRIGHT_LOCK_HOLDER")]
    pub lock_holder: Option<String>,
    /// How long to wait for another run's deploy lock
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = stage::duration::parse)]
    pub lock_timeout: Duration,
    /// How long the deploy lock outlives this run's last renewal
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = stage::duration::parse)]
    pub lock_ttl: Duration,
}

impl LockArgs {
    /// The holder these flags name, else the run found in `env`.
    pub fn holder(&self, env: &Env) -> Holder {
        Holder::from_env(env, self.lock_holder.as_deref())
    }

    /// How to take the lock, waiting at most `wait_timeout` (the flag, or less when the step's
    /// own deadline is nearer).
    pub fn options(&self, wait_timeout: Duration) -> LockOptions {
        LockOptions {
            ttl: self.lock_ttl,
            wait_timeout,
            ..LockOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::{DEFAULT_TTL, DEFAULT_WAIT};
    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        lock: LockArgs,
    }

    #[test]
    fn the_flag_defaults_are_the_lock_defaults() {
        let cli = Cli::try_parse_from(["tool"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.lock.lock_ttl, DEFAULT_TTL);
        assert_eq!(cli.lock.lock_timeout, DEFAULT_WAIT);
        assert_eq!(cli.lock.lock_holder, None);
    }
}
