//! The names and labels pipewright writes into a cluster, in one place so that both tools (and
//! people with kubectl) find the same objects.

use stage::StageError;

/// `app.kubernetes.io/managed-by` on everything pipewright creates for its own bookkeeping.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "pipewright";
/// The release an object of pipewright's bookkeeping belongs to.
pub const RELEASE_LABEL: &str = "pipewright.dev/release";
/// The revision number of a release record.
pub const REVISION_LABEL: &str = "pipewright.dev/revision";
/// The status of a release record, kept equal to the record's own `status`.
pub const STATUS_LABEL: &str = "pipewright.dev/status";
/// The Secret type of release records.
pub const RECORD_TYPE: &str = "pipewright.dev/release.v1";
/// The key of the record in the Secret's data.
pub const RECORD_KEY: &str = "release";
/// A random id per `create` call, to recognise our own record after a lost response.
pub const CREATE_ID_ANNOTATION: &str = "pipewright.dev/create-id";
/// The web page of the lock holder (its GitHub run), for people reading the Lease.
pub const HOLDER_URL_ANNOTATION: &str = "pipewright.dev/holder-url";

/// The longest release name: the record's Secret name and the Lease name stay far inside the
/// 253-character limit, and the name fits a label value (63) with room to spare, like helm's 53.
pub const MAX_RELEASE_NAME: usize = 53;

/// The Secret holding revision `revision` of `release`.
pub fn record_name(release: &str, revision: u32) -> String {
    format!("{}{revision}", record_prefix(release))
}

/// What every record Secret name of `release` starts with (the revision number follows).
pub fn record_prefix(release: &str) -> String {
    format!("pipewright.release.v1.{release}.v")
}

/// The Lease that is the deploy lock of `release`.
pub fn lock_name(release: &str) -> String {
    format!("pipewright-lock-{release}")
}

/// A release name is a DNS label of at most [`MAX_RELEASE_NAME`] characters, since it becomes
/// part of object names and a label value. A bad one is a usage error: it comes from a flag.
pub fn check_release_name(release: &str) -> Result<(), StageError> {
    let well_formed = !release.is_empty()
        && release.len() <= MAX_RELEASE_NAME
        && release
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !release.starts_with('-')
        && !release.ends_with('-');
    if well_formed {
        Ok(())
    } else {
        Err(StageError::usage(format!(
            "invalid release name {release:?}: use 1 to {MAX_RELEASE_NAME} lowercase letters, \
             digits and '-', starting and ending with a letter or digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_are_dns_labels() {
        for good in ["web", "api-2", "a"] {
            assert!(check_release_name(good).is_ok(), "{good}");
        }
        let long = "a".repeat(MAX_RELEASE_NAME + 1);
        for bad in [
            "",
            "Web",
            "-web",
            "web-",
            "web.app",
            "web_app",
            long.as_str(),
        ] {
            assert!(check_release_name(bad).is_err(), "{bad}");
        }
        assert_eq!(record_name("web", 12), "pipewright.release.v1.web.v12");
        assert_eq!(lock_name("web"), "pipewright-lock-web");
    }
}
