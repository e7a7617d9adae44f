//! `--server` and `--certificate-authority`: where kubectl reaches the API server when that is not
//! the endpoint `DescribeCluster` reports. A private cluster's endpoint resolves only inside its
//! VPC, so a laptop or a runner outside it goes through a tunnel (SSM port forwarding, a bastion,
//! a proxy) whose local address and certificate are what the kubeconfig must name. Both are
//! checked before any AWS call, so a typo costs nothing and changes nothing.

use std::path::Path;

use base64::Engine;
use stage::{Ctx, StageError};

/// The checked `--server` and `--certificate-authority` (as certificate-authority-data).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub server: Option<String>,
    pub certificate_authority_data: Option<String>,
}

impl Overrides {
    /// Checks both flags. An empty value (a workflow's unset variable) means "not given", as for
    /// `AWS_REGION`.
    pub fn check(server: Option<&str>, ca_file: Option<&Path>) -> Result<Self, StageError> {
        Ok(Self {
            server: server
                .filter(|s| !s.is_empty())
                .map(check_server)
                .transpose()?,
            certificate_authority_data: ca_file
                .filter(|p| !p.as_os_str().is_empty())
                .map(read_ca)
                .transpose()?,
        })
    }

    pub fn from_args(args: &crate::cluster::KubeconfigArgs) -> Result<Self, StageError> {
        Self::check(
            args.server.as_deref(),
            args.certificate_authority.as_deref(),
        )
    }

    /// The endpoint and CA data to write: ours where given, else the cluster's.
    pub fn apply(self, ctx: &Ctx, endpoint: String, ca: String) -> (String, String) {
        if let Some(server) = &self.server {
            crate::progress(
                ctx,
                &format!(
                    "writing server {server} (--server) instead of the cluster's endpoint {endpoint}"
                ),
            );
        }
        (
            self.server.unwrap_or(endpoint),
            self.certificate_authority_data.unwrap_or(ca),
        )
    }
}

/// The server URL to write instead of the cluster's endpoint, checked: `https://HOST[:PORT][/…]`.
pub fn check_server(url: &str) -> Result<String, StageError> {
    let bad = |why: &str| {
        StageError::usage(format!("--server {url:?}: {why}")).with_hint(
            "give the API server's URL as kubectl takes it, e.g. --server https://127.0.0.1:8443 \
             (the local end of a tunnel to the cluster's private endpoint)",
        )
    };
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| bad("must start with https:// (the API server only speaks TLS)"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') || host.chars().any(char::is_whitespace) {
        return Err(bad("has no host"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The base64 `certificate-authority-data` for a PEM file of one or more CA certificates.
pub fn read_ca(path: &Path) -> Result<String, StageError> {
    let hint = "pass --certificate-authority a PEM file holding the CA certificate(s) that signed \
                the API server's (or the tunnel's) serving certificate";
    let text = std::fs::read_to_string(path).map_err(|e| {
        StageError::usage(format!(
            "--certificate-authority {}: cannot read it: {e}",
            path.display()
        ))
        .with_hint(hint)
    })?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(StageError::usage(format!(
            "--certificate-authority {}: no PEM certificate in it (no -----BEGIN CERTIFICATE----- line)",
            path.display()
        ))
        .with_hint(hint));
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_must_be_an_https_url_with_a_host() {
        assert_eq!(
            check_server("https://127.0.0.1:8443/").unwrap(),
            "https://127.0.0.1:8443"
        );
        assert!(check_server("https://x.eks.amazonaws.com").is_ok());
        for (bad, why) in [
            ("http://127.0.0.1:8443", "https://"),
            ("127.0.0.1:8443", "https://"),
            ("https://", "no host"),
            ("https://:8443", "no host"),
        ] {
            let err = check_server(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.message().contains(why), "{bad}: {}", err.message());
        }
    }

    #[test]
    fn a_ca_file_must_hold_a_pem_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ca.crt");
        std::fs::write(
            &good,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let data = read_ca(&good).unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        assert!(
            String::from_utf8(decoded)
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );

        let junk = dir.path().join("junk");
        std::fs::write(&junk, "not a certificate").unwrap();
        let err = read_ca(&junk).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.message().contains("no PEM certificate"));

        let err = read_ca(&dir.path().join("missing")).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.message().contains("cannot read it"));
    }
}
