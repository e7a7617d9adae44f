//! Reading a client's Accept header for the one question kube-sim asks of it: does the client
//! take only Kubernetes protobuf? kubectl and helm list JSON too
//! (`application/vnd.kubernetes.protobuf,application/json`) and get JSON, as before.

use super::MEDIA_TYPE;

/// True when Accept lists plain Kubernetes protobuf and nothing JSON-compatible (`*/*`,
/// `application/*`, `application/json`, YAML). Media ranges with an `as=` parameter (Table,
/// aggregated discovery) are other answers altogether and are not counted either way.
pub fn accepts_only_protobuf(accept: &str) -> bool {
    let mut protobuf = false;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let params: Vec<&str> = parts.collect();
        if params.iter().any(|p| p.starts_with("as=")) {
            continue;
        }
        if params.iter().any(|p| p.replace(' ', "") == "q=0") {
            continue;
        }
        match media.as_str() {
            MEDIA_TYPE => protobuf = true,
            "" => {}
            _ => return false,
        }
    }
    protobuf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_protobuf_only_accept_gets_protobuf() {
        assert!(accepts_only_protobuf("application/vnd.kubernetes.protobuf"));
        assert!(accepts_only_protobuf(
            "application/vnd.kubernetes.protobuf, application/json;q=0"
        ));
        for accept in [
            "",
            "application/json",
            "application/vnd.kubernetes.protobuf,application/json",
            "application/vnd.kubernetes.protobuf, */*",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io",
        ] {
            assert!(!accepts_only_protobuf(accept), "{accept}");
        }
    }
}
