//! The string formats Kubernetes checks everywhere (DNS names, qualified names, label values,
//! port names, environment variable names, config keys), each returning the real server's
//! messages (one per rule broken, as apimachinery's `Is…` functions do).

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const QUALIFIED_NAME_MSG: &str = "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const ENV_NAME_MSG: &str = "a valid environment variable name must consist only of printable ASCII characters other than '='";

fn max_len(text: &str, max: usize) -> Option<String> {
    (text.len() > max).then(|| format!("must be no more than {max} characters"))
}

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn label_shape(text: &str, first_ok: fn(u8) -> bool) -> bool {
    let b = text.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            first_ok(f) && is_lower_alnum(l) && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// RFC 1123 label (Namespace names, container and port-less names): at most 63.
pub fn dns1123_label(text: &str) -> Vec<String> {
    let mut errs: Vec<String> = max_len(text, 63).into_iter().collect();
    if !label_shape(text, is_lower_alnum) {
        errs.push(DNS1123_LABEL_MSG.to_owned());
    }
    errs
}

/// RFC 1123 subdomain (most object names): at most 253.
pub fn dns1123_subdomain(text: &str) -> Vec<String> {
    let mut errs: Vec<String> = max_len(text, 253).into_iter().collect();
    if text.is_empty()
        || !text
            .split('.')
            .all(|part| label_shape(part, is_lower_alnum))
    {
        errs.push(DNS1123_SUBDOMAIN_MSG.to_owned());
    }
    errs
}

/// RFC 1035 label (Service names): starts with a letter, at most 63.
pub fn dns1035_label(text: &str) -> Vec<String> {
    let mut errs: Vec<String> = max_len(text, 63).into_iter().collect();
    if !label_shape(text, |c| c.is_ascii_lowercase()) {
        errs.push(DNS1035_LABEL_MSG.to_owned());
    }
    errs
}

/// Names of kinds whose objects may be named anything a URL path segment allows (RBAC
/// objects): not `.` or `..`, no `/` or `%`.
pub fn path_segment(text: &str) -> Vec<String> {
    if text == "." || text == ".." {
        return vec![format!("may not be '{text}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|bad| text.contains(*bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

fn qualified_part(text: &str) -> bool {
    let b = text.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// A qualified name (label and annotation keys): `[prefix/]name`.
pub fn qualified_name(text: &str) -> Vec<String> {
    let parts: Vec<&str> = text.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                return vec!["prefix part must be non-empty".to_owned()];
            }
            let mut errs: Vec<String> = dns1123_subdomain(prefix)
                .into_iter()
                .map(|m| format!("prefix part {m}"))
                .collect();
            errs.extend(qualified_name_part(name));
            return errs;
        }
        _ => return vec![QUALIFIED_NAME_MSG.to_owned()],
    };
    qualified_name_part(name)
}

fn qualified_name_part(name: &str) -> Vec<String> {
    if name.is_empty() {
        return vec!["name part must be non-empty".to_owned()];
    }
    let mut errs = Vec::new();
    if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_owned());
    }
    if !qualified_part(name) {
        errs.push(QUALIFIED_NAME_PART_MSG.to_owned());
    }
    errs
}

/// A label value: empty, or a qualified name part of at most 63.
pub fn label_value(text: &str) -> Vec<String> {
    let mut errs: Vec<String> = max_len(text, 63).into_iter().collect();
    if !text.is_empty() && !qualified_part(text) {
        errs.push(LABEL_VALUE_MSG.to_owned());
    }
    errs
}

/// A named port (`IANA_SVC_NAME`): at most 15 lower-case letters, digits and single inner
/// hyphens, with at least one letter.
pub fn port_name(text: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if text.len() > 15 {
        errs.push("must be no more than 15 characters".to_owned());
    }
    if !text.bytes().all(|c| is_lower_alnum(c) || c == b'-') {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_owned(),
        );
    }
    if !text.bytes().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_owned());
    }
    if text.contains("--") {
        errs.push("must not contain consecutive hyphens".to_owned());
    }
    if text.starts_with('-') || text.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_owned());
    }
    errs
}

/// An environment variable name: printable ASCII other than `=`.
pub fn env_var_name(text: &str) -> Vec<String> {
    if !text.is_empty()
        && text
            .bytes()
            .all(|c| (b' '..=b'~').contains(&c) && c != b'=')
    {
        Vec::new()
    } else {
        vec![ENV_NAME_MSG.to_owned()]
    }
}

/// A ConfigMap or Secret key.
pub fn config_key(text: &str) -> Vec<String> {
    let mut errs: Vec<String> = max_len(text, 253).into_iter().collect();
    if text.is_empty()
        || !text
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    {
        errs.push(CONFIG_KEY_MSG.to_owned());
    }
    if text == "." {
        errs.push("must not be '.'".to_owned());
    } else if text == ".." {
        errs.push("must not be '..'".to_owned());
    } else if text.starts_with("..") {
        errs.push("must not start with '..'".to_owned());
    }
    errs
}

/// An object name rule: how names of a kind are checked. `prefix` is true for `generateName`,
/// whose trailing `-` the real server ignores before checking.
pub type NameRule = fn(&str) -> Vec<String>;

/// The rule the real server applies to names of `kind` in `group`.
pub fn name_rule(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") => dns1123_label,
        ("", "Service") => dns1035_label,
        ("rbac.authorization.k8s.io", _) => path_segment,
        _ => dns1123_subdomain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_dns_rules() {
        assert!(dns1123_subdomain("web.example-1").is_empty());
        assert_eq!(dns1123_subdomain("Web").len(), 1);
        assert!(dns1123_label("team-a").is_empty());
        assert_eq!(dns1123_label("a.b").len(), 1);
        assert_eq!(dns1035_label("1web").len(), 1);
        assert_eq!(dns1123_label(&"a".repeat(64)).len(), 1);
    }

    #[test]
    fn label_keys_and_values() {
        assert!(qualified_name("app.kubernetes.io/name").is_empty());
        assert!(!qualified_name("bad key").is_empty());
        assert_eq!(qualified_name("/x"), vec!["prefix part must be non-empty"]);
        assert!(label_value("").is_empty());
        assert!(!label_value("-x").is_empty());
    }

    #[test]
    fn port_names_follow_iana_svc_name() {
        assert!(port_name("http").is_empty());
        assert!(port_name("http-2").is_empty());
        assert_eq!(port_name("8080").len(), 1);
        assert_eq!(port_name("http_port").len(), 1);
        assert_eq!(port_name("a-very-long-port-name").len(), 1);
    }

    #[test]
    fn env_and_config_keys() {
        assert!(env_var_name("MY_VAR").is_empty());
        assert!(!env_var_name("A=B").is_empty());
        assert!(config_key("app.properties").is_empty());
        assert!(!config_key("a b").is_empty());
        assert_eq!(config_key(".."), vec!["must not be '..'"]);
    }
}
