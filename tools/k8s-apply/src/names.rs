//! Kubernetes' rules for object names, checked before anything is sent so that a bad name is an
//! input error naming the file and document, not an API error halfway through an apply.
//!
//! The API server does not use one rule for every kind: most names are DNS subdomains, a
//! Namespace's is a DNS label, a Service's must also start with a letter (it becomes a DNS name
//! and an environment variable prefix), and RBAC objects accept anything that fits in a URL path
//! segment (`system:controller:foo`). We mirror those rules and nothing stricter, so that we never
//! refuse an object the cluster would accept.

/// Which rule a kind's `metadata.name` must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain: at most 253 characters of `a-z`, `0-9`, `-` and `.`, each
    /// dot-separated part starting and ending with a letter or digit.
    DnsSubdomain,
    /// RFC 1123 label: at most 63 characters of `a-z`, `0-9` and `-`, starting and ending with a
    /// letter or digit.
    DnsLabel,
    /// RFC 1035 label: a DNS label that starts with a letter.
    Dns1035Label,
    /// Anything usable as one URL path segment: not `.` or `..`, no `/` or `%`.
    PathSegment,
}

impl NameRule {
    /// The rule the API server applies to `metadata.name` of `kind` in API group `group`.
    pub fn for_kind(group: &str, kind: &str) -> Self {
        match (group, kind) {
            ("", "Namespace") => Self::DnsLabel,
            ("", "Service") => Self::Dns1035Label,
            (
                "rbac.authorization.k8s.io",
                "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
            ) => Self::PathSegment,
            _ => Self::DnsSubdomain,
        }
    }

    /// Whether `name` follows this rule.
    pub fn accepts(self, name: &str) -> bool {
        match self {
            Self::DnsSubdomain => is_dns_subdomain(name),
            Self::DnsLabel => is_dns_label(name),
            Self::Dns1035Label => {
                is_dns_label(name) && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            }
            Self::PathSegment => {
                !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%'])
            }
        }
    }

    /// What a valid name looks like, phrased as what to do.
    pub fn describe(self) -> &'static str {
        match self {
            Self::DnsSubdomain => {
                "use at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
            }
            Self::DnsLabel => {
                "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
            }
            Self::Dns1035Label => {
                "use at most 63 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"
            }
            Self::PathSegment => "use a name that is not '.' or '..' and has no '/' or '%'",
        }
    }
}

/// An RFC 1123 label, the rule for namespaces.
pub fn is_dns_label(name: &str) -> bool {
    name.len() <= 63 && is_label_shape(name)
}

/// An RFC 1123 subdomain. Kubernetes limits only the total length, not each label's.
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_label_shape)
}

fn is_label_shape(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            alnum(first) && alnum(last) && bytes.iter().all(|b| alnum(b) || *b == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        for good in ["a", "web", "web-1", "a.b.c", "0abc", &"a".repeat(253)] {
            assert!(is_dns_subdomain(good), "{good}");
        }
        for bad in [
            "",
            "Web",
            "web_1",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            &"a".repeat(254),
        ] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
    }

    #[test]
    fn labels() {
        assert!(is_dns_label("app-1"));
        assert!(is_dns_label(&"a".repeat(63)));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(!is_dns_label("a.b"));
    }

    #[test]
    fn rules_by_kind() {
        assert_eq!(NameRule::for_kind("", "Namespace"), NameRule::DnsLabel);
        assert_eq!(NameRule::for_kind("", "Service"), NameRule::Dns1035Label);
        assert_eq!(
            NameRule::for_kind("rbac.authorization.k8s.io", "ClusterRole"),
            NameRule::PathSegment
        );
        assert_eq!(
            NameRule::for_kind("apps", "Deployment"),
            NameRule::DnsSubdomain
        );
        // A custom resource that happens to be called Service is not a core Service.
        assert_eq!(
            NameRule::for_kind("example.com", "Service"),
            NameRule::DnsSubdomain
        );
    }

    #[test]
    fn service_names_start_with_a_letter() {
        assert!(NameRule::Dns1035Label.accepts("web"));
        assert!(!NameRule::Dns1035Label.accepts("1web"));
        assert!(NameRule::DnsSubdomain.accepts("1web"));
    }

    #[test]
    fn rbac_names_are_path_segments() {
        let rule = NameRule::PathSegment;
        assert!(rule.accepts("system:controller:job-controller"));
        assert!(rule.accepts("Mixed_Case"));
        for bad in ["", ".", "..", "a/b", "a%2f"] {
            assert!(!rule.accepts(bad), "{bad}");
        }
    }
}
