//! Kubeconfig files: which one to write, the cluster/user/context entries for an EKS cluster, and
//! merging them into a file a person already uses without disturbing anything else in it.
//!
//! As `aws eks update-kubeconfig` does: the cluster and user entries are named by the cluster's
//! ARN, the context by `--alias` or the ARN; an entry with the same name is replaced, anything
//! else (other clusters, users, contexts, `preferences`, extensions, fields we do not know) is
//! kept as it was; `current-context` is set; the file is written 0600. Comments are not kept
//! (neither does the AWS CLI: YAML libraries drop them).

use std::fs;
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};
use stage::{Ctx, StageError};

use crate::exec_credential::ApiVersion;

/// What goes into the kubeconfig for one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entries {
    pub cluster_name: String,
    pub server: String,
    pub certificate_authority_data: String,
    pub user_name: String,
    pub context_name: String,
    pub exec: Exec,
}

/// The user's exec plugin: the program kubectl runs for a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    pub api_version: ApiVersion,
    pub command: String,
    pub args: Vec<String>,
}

/// The kubeconfig to write: `--out`, else the `$KUBECONFIG` file that already has this cluster,
/// else the first `$KUBECONFIG` path, else `~/.kube/config` (kubectl's and the AWS CLI's rules).
pub fn choose_path(
    ctx: &Ctx,
    out: Option<&Path>,
    cluster_name: &str,
) -> Result<PathBuf, StageError> {
    if let Some(out) = out {
        return Ok(out.to_owned());
    }
    let listed: Vec<PathBuf> = ctx
        .env("KUBECONFIG")
        .map(|v| {
            v.split(':')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    if let Some(first) = listed.first() {
        let holding = listed.iter().find(|path| {
            fs::read_to_string(path)
                .ok()
                .and_then(|text| serde_yaml_ng::from_str::<Value>(&text).ok())
                .is_some_and(|doc| has_named(&doc, "clusters", cluster_name))
        });
        return Ok(holding.unwrap_or(first).clone());
    }
    let home = ctx.env("HOME").ok_or_else(|| {
        StageError::usage("cannot tell where the kubeconfig goes: HOME and KUBECONFIG are unset")
            .with_hint("pass --out PATH or set KUBECONFIG")
    })?;
    Ok(Path::new(home).join(".kube").join("config"))
}

/// The file's new text: `existing` (if any) with the entries merged in.
pub fn merge(existing: Option<&str>, entries: &Entries, path: &Path) -> Result<String, StageError> {
    let mut doc = match existing.filter(|t| !t.trim().is_empty()) {
        None => new_document(),
        Some(text) => serde_yaml_ng::from_str::<Value>(text).map_err(|e| {
            StageError::invalid_input(format!(
                "{} is not a readable kubeconfig: {e}",
                path.display()
            ))
            .with_hint("fix or move the file, or write elsewhere with --out")
        })?,
    };
    if doc.is_null() {
        doc = new_document();
    }
    let Value::Mapping(root) = &mut doc else {
        return Err(not_a_kubeconfig(path, "the top level is not a mapping"));
    };
    for (key, value) in [("apiVersion", "v1"), ("kind", "Config")] {
        if !root.contains_key(key) {
            root.insert(key.into(), value.into());
        }
    }
    upsert(root, "clusters", cluster_entry(entries), path)?;
    upsert(root, "users", user_entry(entries), path)?;
    upsert(root, "contexts", context_entry(entries), path)?;
    root.insert(
        "current-context".into(),
        entries.context_name.clone().into(),
    );
    serde_yaml_ng::to_string(&doc).map_err(|e| {
        StageError::new(
            stage::ErrorKind::Internal,
            format!("could not write the kubeconfig as YAML: {e}"),
        )
    })
}

/// Writes `text` to `path` with the one private-file writer (a new 0600 file renamed over the
/// old one). A symlinked kubeconfig is followed, as kubectl follows it (dotfile managers link
/// `~/.kube/config`), so it stays a link; but only to a regular file this user owns, and the
/// file it names is replaced, never opened for writing through the link.
pub fn write(path: &Path, text: &str) -> Result<PathBuf, StageError> {
    stage::private_file::write(
        path,
        text.as_bytes(),
        stage::private_file::Links::FollowOwn,
        stage::private_file::Dir::Any,
    )
    .map_err(|e| {
        StageError::failed(format!("could not write the kubeconfig: {e}"))
            .with_hint("check the directory's permissions, or write elsewhere with --out")
    })
}

/// True when the document has a `section` entry named `name`.
pub fn has_named(doc: &Value, section: &str, name: &str) -> bool {
    doc.get(section)
        .and_then(Value::as_sequence)
        .is_some_and(|items| items.iter().any(|item| entry_name(item) == Some(name)))
}

fn new_document() -> Value {
    // kubectl's own key order, so a new file looks like one kubectl wrote.
    let mut root = Mapping::new();
    root.insert("apiVersion".into(), "v1".into());
    root.insert("clusters".into(), Value::Sequence(Vec::new()));
    root.insert("contexts".into(), Value::Sequence(Vec::new()));
    root.insert("current-context".into(), "".into());
    root.insert("kind".into(), "Config".into());
    root.insert("preferences".into(), Value::Mapping(Mapping::new()));
    root.insert("users".into(), Value::Sequence(Vec::new()));
    Value::Mapping(root)
}

fn entry_name(item: &Value) -> Option<&str> {
    item.get("name").and_then(Value::as_str)
}

/// Replaces the entry of `section` with the same name as `entry`, or appends it.
fn upsert(root: &mut Mapping, section: &str, entry: Value, path: &Path) -> Result<(), StageError> {
    let slot = root
        .entry(section.into())
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if slot.is_null() {
        *slot = Value::Sequence(Vec::new());
    }
    let Value::Sequence(items) = slot else {
        return Err(not_a_kubeconfig(
            path,
            &format!("`{section}` is not a list"),
        ));
    };
    let name = entry_name(&entry).map(str::to_owned);
    match items
        .iter_mut()
        .find(|item| entry_name(item) == name.as_deref())
    {
        Some(existing) => *existing = entry,
        None => items.push(entry),
    }
    Ok(())
}

fn not_a_kubeconfig(path: &Path, why: &str) -> StageError {
    StageError::invalid_input(format!("{} is not a kubeconfig: {why}", path.display()))
        .with_hint("fix or move the file, or write elsewhere with --out")
}

fn mapping<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Mapping(
        pairs
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

fn cluster_entry(e: &Entries) -> Value {
    mapping([
        (
            "cluster",
            mapping([
                (
                    "certificate-authority-data",
                    e.certificate_authority_data.clone().into(),
                ),
                ("server", e.server.clone().into()),
            ]),
        ),
        ("name", e.cluster_name.clone().into()),
    ])
}

fn user_entry(e: &Entries) -> Value {
    let args = e.exec.args.iter().cloned().map(Value::from).collect();
    mapping([
        ("name", e.user_name.clone().into()),
        (
            "user",
            mapping([(
                "exec",
                mapping([
                    ("apiVersion", e.exec.api_version.as_str().into()),
                    ("args", Value::Sequence(args)),
                    ("command", e.exec.command.clone().into()),
                    // eks-token never prompts. Saying so also stops clients from handing it
                    // their stdin: kube-rs passes stdin to plugins unless this is Never, and a
                    // manifest piped to the client must not be read by its credential plugin.
                    // v1 requires the field; v1beta1 has had it since Kubernetes 1.22.
                    ("interactiveMode", "Never".into()),
                    ("provideClusterInfo", false.into()),
                ]),
            )]),
        ),
    ])
}

fn context_entry(e: &Entries) -> Value {
    mapping([
        (
            "context",
            mapping([
                ("cluster", e.cluster_name.clone().into()),
                ("user", e.user_name.clone().into()),
            ]),
        ),
        ("name", e.context_name.clone().into()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:eks:eu-west-1:123456789012:cluster/prod";

    fn entries(context: &str) -> Entries {
        Entries {
            cluster_name: ARN.to_owned(),
            server: "https://ABC.gr7.eu-west-1.eks.amazonaws.com".to_owned(),
            certificate_authority_data: "Q0EgREFUQQ==".to_owned(),
            user_name: ARN.to_owned(),
            context_name: context.to_owned(),
            exec: Exec {
                api_version: ApiVersion::V1beta1,
                command: "eks-token".to_owned(),
                args: ["token", "--cluster", "prod", "--region", "eu-west-1"]
                    .map(str::to_owned)
                    .to_vec(),
            },
        }
    }

    fn parse(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn a_new_file_has_the_three_entries_and_the_current_context() {
        let text = merge(None, &entries("prod"), Path::new("k")).unwrap();
        let doc = parse(&text);
        assert_eq!(doc["current-context"], "prod");
        assert_eq!(doc["kind"], "Config");
        assert_eq!(doc["clusters"][0]["name"], ARN);
        assert_eq!(
            doc["clusters"][0]["cluster"]["server"],
            "https://ABC.gr7.eu-west-1.eks.amazonaws.com"
        );
        let exec = &doc["users"][0]["user"]["exec"];
        assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1beta1");
        assert_eq!(exec["command"], "eks-token");
        assert_eq!(exec["args"][0], "token");
        assert_eq!(exec["interactiveMode"], "Never");
        assert_eq!(doc["contexts"][0]["context"]["user"], ARN);
        assert!(text.starts_with("apiVersion: v1\nclusters:"), "{text}");
    }

    #[test]
    fn merging_keeps_everything_else_and_replaces_our_entries() {
        let existing = "\
apiVersion: v1
kind: Config
preferences:
  colors: true
clusters:
- name: other
  cluster:
    server: https://other.example
    insecure-skip-tls-verify: true
users:
- name: other
  user:
    token: abc
- name: arn:aws:eks:eu-west-1:123456789012:cluster/prod
  user:
    token: stale
contexts:
- name: other
  context: {cluster: other, user: other, namespace: team}
current-context: other
extensions:
- name: x
  extension: {a: 1}
";
        let once = merge(Some(existing), &entries("prod"), Path::new("k")).unwrap();
        let doc = parse(&once);
        assert_eq!(doc["preferences"]["colors"], true);
        assert_eq!(doc["extensions"][0]["extension"]["a"], 1);
        assert_eq!(doc["clusters"].as_sequence().unwrap().len(), 2);
        assert_eq!(
            doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"],
            true
        );
        assert_eq!(doc["users"].as_sequence().unwrap().len(), 2);
        assert_eq!(doc["users"][0]["user"]["token"], "abc");
        assert!(doc["users"][1]["user"]["token"].is_null(), "replaced whole");
        assert_eq!(doc["users"][1]["user"]["exec"]["command"], "eks-token");
        assert_eq!(doc["contexts"][0]["context"]["namespace"], "team");
        assert_eq!(doc["current-context"], "prod");
        let twice = merge(Some(&once), &entries("prod"), Path::new("k")).unwrap();
        assert_eq!(once, twice, "merging again changes nothing");
    }

    #[test]
    fn empty_and_null_sections_are_fine_but_broken_files_are_refused() {
        assert!(merge(Some(""), &entries("p"), Path::new("k")).is_ok());
        assert!(
            merge(
                Some("clusters: null\nusers:\n"),
                &entries("p"),
                Path::new("k")
            )
            .is_ok()
        );
        for bad in ["- a\n- b\n", "clusters: {a: 1}\n", "clusters: [\n"] {
            let err = merge(Some(bad), &entries("p"), Path::new("/x/config")).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.message().contains("/x/config"), "{}", err.message());
        }
    }

    #[test]
    fn write_is_private_and_follows_links() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real/config");
        let written = write(&real, "a: 1\n").unwrap();
        assert_eq!(written, real);
        assert_eq!(
            fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write(&link, "a: 2\n").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&real).unwrap(), "a: 2\n");
    }
}
