//! AWS SDK configuration shared by pipewright's AWS tools.
//!
//! Every AWS tool gets its SDK settings here, so they all behave alike: the same flags
//! (`--region`, `--profile`) with the standard environment variables, the same credential sources
//! (a `credential_process` document piped from `oidc-creds`, or the standard chain), the same
//! retry policy and timeouts, and the same mapping from SDK errors to the stage contract's exit
//! codes.
//!
//! - [`ProcessCredentials`]: AWS's `credential_process` document, what `oidc-creds` prints and
//!   `eks-token` reads.
//! - [`AwsArgs`] and [`load_config`]: the `SdkConfig` a tool builds its clients from.
//! - [`sdk_error`]: an SDK error as a [`stage::StageError`] of the right kind, with a hint.

mod config;
mod credentials;
mod error;

pub use config::{
    AwsArgs, CONNECT_TIMEOUT, DEFAULT_MAX_ATTEMPTS, OPERATION_ATTEMPT_TIMEOUT, READ_TIMEOUT,
    load_config, load_config_unsigned, resolve_region, retry_config, timeout_config,
};
pub use credentials::{PROVIDER_NAME, ProcessCredentials};
pub use error::{Classification, classify_code, sdk_error};
