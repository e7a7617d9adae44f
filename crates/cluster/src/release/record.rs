//! The release record: what one revision of a release applied, who applied it, and how it went.
//!
//! Versioned by its `schema` field (`pipewright.dev/release-record/v1`); fields are only ever
//! added. The manifest set can hold Secret objects (a rollback must restore them), so the record's
//! `Debug` never shows manifest content, and what tools print (`k8s-apply history`'s revisions) has
//! no manifests at all.

use std::collections::BTreeSet;
use std::fmt;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use stage::{Env, Secret};

/// The `schema` of every record this version writes.
pub const RECORD_SCHEMA: &str = "pipewright.dev/release-record/v1";

/// Where a revision is in its life. k8s-apply: `applying` → `applied` (or `failed`);
/// rollout-wait: `applied` → `deployed` or `failed`; a later `deployed` revision turns the earlier
/// `deployed` ones `superseded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseStatus {
    Applying,
    Applied,
    Deployed,
    Failed,
    Superseded,
    /// `k8s-apply uninstall --keep-history`: the release's objects were deleted; its earlier
    /// revisions stay for `history` and `rollback`.
    Uninstalled,
}

impl ReleaseStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Applying => "applying",
            Self::Applied => "applied",
            Self::Deployed => "deployed",
            Self::Failed => "failed",
            Self::Superseded => "superseded",
            Self::Uninstalled => "uninstalled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Applying,
            Self::Applied,
            Self::Deployed,
            Self::Failed,
            Self::Superseded,
            Self::Uninstalled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl fmt::Display for ReleaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One revision of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ReleaseRecord {
    /// Always `pipewright.dev/release-record/v1` for this format.
    pub schema: String,
    pub release: String,
    /// 1, 2, 3, …; assigned by [`crate::ReleaseHistory::create`], unique per release.
    pub revision: u32,
    /// The highest revision that existed when this one was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_revision: Option<u32>,
    /// For a rollback: the revision whose manifests this one re-applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_revision: Option<u32>,
    pub status: ReleaseStatus,
    /// Why the revision failed, or other words for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The environment the cluster is recorded as (`--env`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The namespace the record lives in (the release's namespace).
    pub namespace: String,
    /// The `applyset.kubernetes.io/id` of the release's `ApplySet` parent (KEP-3659).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_set_id: Option<String>,
    /// Every container image of the set, sorted.
    #[serde(default)]
    pub images: BTreeSet<String>,
    /// The objects the revision owns, in apply order.
    #[serde(default)]
    pub objects: Vec<OwnedObject>,
    /// The objects as applied (normalised), Secrets included: what a rollback re-applies.
    #[serde(default)]
    pub manifests: ManifestSet,
    /// Who and what applied it.
    #[serde(default)]
    pub origin: Origin,
    /// When the revision was recorded (RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub created_at: Timestamp,
    /// When its status last changed.
    #[serde(with = "rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub updated_at: Timestamp,
    /// Whether the deployer can be shown to have written it: set when it is read through a
    /// [`crate::ReleaseHistory`], never stored.
    #[serde(skip)]
    #[schemars(skip)]
    pub trust: super::seal::Trust,
}

impl ReleaseRecord {
    /// A new record in state `applying`, revision 0 until it is created.
    pub fn new(release: impl Into<String>, namespace: impl Into<String>) -> Self {
        let now = Timestamp::now();
        Self {
            schema: RECORD_SCHEMA.to_owned(),
            release: release.into(),
            revision: 0,
            previous_revision: None,
            source_revision: None,
            status: ReleaseStatus::Applying,
            message: None,
            environment: None,
            namespace: namespace.into(),
            apply_set_id: None,
            images: BTreeSet::new(),
            objects: Vec::new(),
            manifests: ManifestSet::default(),
            origin: Origin::default(),
            created_at: now,
            updated_at: now,
            trust: super::seal::Trust::Unchecked,
        }
    }
}

/// An object a revision owns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnedObject {
    pub api_version: String,
    pub kind: String,
    /// Absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// The manifests of a revision as applied. Serialised in full (into the record's Secret); shown
/// by `Debug` as object names only, because Secret objects are among them.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct ManifestSet(Vec<serde_json::Value>);

impl ManifestSet {
    pub fn new(objects: Vec<serde_json::Value>) -> Self {
        Self(objects)
    }

    pub fn objects(&self) -> &[serde_json::Value] {
        &self.0
    }

    pub fn into_objects(self) -> Vec<serde_json::Value> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every value of the Secret objects in the set (`data`, both as stored in base64 and
    /// decoded, and `stringData`), for `Ctx::register_secret` before anything could print them.
    pub fn secret_values(&self) -> Vec<Secret> {
        use base64::Engine;
        let mut values = Vec::new();
        for object in self.0.iter().filter(|o| o["kind"] == "Secret") {
            if let Some(data) = object["data"].as_object() {
                for encoded in data.values().filter_map(serde_json::Value::as_str) {
                    values.push(Secret::new(encoded));
                    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) {
                        values.push(Secret::new(String::from_utf8_lossy(&bytes).into_owned()));
                    }
                }
            }
            if let Some(data) = object["stringData"].as_object() {
                values.extend(
                    data.values()
                        .filter_map(serde_json::Value::as_str)
                        .map(Secret::new),
                );
            }
        }
        values
    }
}

impl fmt::Debug for ManifestSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.0.iter().map(|o| {
            let namespace = o["metadata"]["namespace"].as_str().unwrap_or("");
            let name = o["metadata"]["name"].as_str().unwrap_or("?");
            let kind = o["kind"].as_str().unwrap_or("?");
            if namespace.is_empty() {
                format!("{kind}/{name}")
            } else {
                format!("{kind} {namespace}/{name}")
            }
        });
        f.debug_list().entries(names).finish()
    }
}

/// Who and what applied a revision: the GitHub Actions run when there is one, else the machine
/// and user. Every field is optional: records are read by people first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Origin {
    /// The run's page: `https://github.com/<repo>/actions/runs/<id>/attempts/<n>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_attempt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// The commit deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// `refs/heads/main`, `refs/tags/v1.2.3`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "ref")]
    pub git_ref: Option<String>,
    /// The GitHub user, or the local user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The machine, when not under GitHub Actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `k8s-apply 0.1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
}

impl Origin {
    /// From the run's environment: the `GITHUB_*` variables under GitHub Actions, else `USER`
    /// and the host name.
    pub fn from_env(env: &Env) -> Self {
        let var = |name: &str| env.get(name).filter(|v| !v.is_empty()).map(str::to_owned);
        if env.get("GITHUB_ACTIONS") == Some("true") {
            let repository = var("GITHUB_REPOSITORY");
            let run_id = var("GITHUB_RUN_ID");
            let run_attempt = var("GITHUB_RUN_ATTEMPT");
            let run_url = github_run_url(
                var("GITHUB_SERVER_URL").as_deref(),
                repository.as_deref(),
                run_id.as_deref(),
                run_attempt.as_deref(),
            );
            Self {
                run_url,
                run_id,
                run_attempt,
                repository,
                workflow: var("GITHUB_WORKFLOW"),
                commit: var("GITHUB_SHA"),
                git_ref: var("GITHUB_REF"),
                actor: var("GITHUB_ACTOR"),
                host: None,
                tool: None,
            }
        } else {
            Self {
                actor: var("USER").or_else(|| var("LOGNAME")),
                host: Some(crate::lock::hostname(env)),
                ..Self::default()
            }
        }
    }
}

/// A GitHub Actions run's page, when the variables to build it are there.
pub(crate) fn github_run_url(
    server: Option<&str>,
    repository: Option<&str>,
    run_id: Option<&str>,
    attempt: Option<&str>,
) -> Option<String> {
    let server = server.unwrap_or("https://github.com").trim_end_matches('/');
    let (repository, run_id) = (repository?, run_id?);
    Some(match attempt {
        Some(attempt) => format!("{server}/{repository}/actions/runs/{run_id}/attempts/{attempt}"),
        None => format!("{server}/{repository}/actions/runs/{run_id}"),
    })
}

/// Timestamps as RFC 3339 text, the way Kubernetes writes them.
mod rfc3339 {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(t)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_under_github_actions_names_the_run() {
        let env = Env::default()
            .with("GITHUB_ACTIONS", "true")
            .with("GITHUB_REPOSITORY", "acme/shop")
            .with("GITHUB_RUN_ID", "123")
            .with("GITHUB_RUN_ATTEMPT", "2")
            .with("GITHUB_SHA", "abc123")
            .with("GITHUB_ACTOR", "octocat")
            .with("GITHUB_REF", "refs/heads/main")
            .with("GITHUB_SERVER_URL", "");
        let origin = Origin::from_env(&env);
        assert_eq!(
            origin.run_url.as_deref(),
            Some("https://github.com/acme/shop/actions/runs/123/attempts/2")
        );
        assert_eq!(origin.commit.as_deref(), Some("abc123"));
        let json = serde_json::to_value(&origin).unwrap();
        assert_eq!(json["ref"], "refs/heads/main");
        assert!(json.get("host").is_none());
    }

    #[test]
    fn origin_elsewhere_names_user_and_host() {
        let env = Env::default()
            .with("USER", "dev")
            .with("HOSTNAME", "laptop");
        let origin = Origin::from_env(&env);
        assert_eq!(origin.actor.as_deref(), Some("dev"));
        assert!(origin.host.is_some());
        assert!(origin.run_url.is_none());
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in [
            ReleaseStatus::Applying,
            ReleaseStatus::Applied,
            ReleaseStatus::Deployed,
            ReleaseStatus::Failed,
            ReleaseStatus::Superseded,
        ] {
            assert_eq!(ReleaseStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
