//! Who a request comes from, once authenticated: the user as the API server's authorizers see it
//! (name, uid, groups, extra), the static users a scenario declares, and how an EKS caller's IAM
//! ARN becomes a user through access entries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The group every authenticated user belongs to.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The group whose members may do anything (bound to `cluster-admin`, and short-circuited as the
/// real server's privileged-group authorizer does).
pub const MASTERS: &str = "system:masters";
/// The kubeconfig's own user: the cluster's administrator, as kubeadm names it.
pub const ADMIN_NAME: &str = "kubernetes-admin";

/// An authenticated user, shaped as `authentication.k8s.io/v1 UserInfo` (the JSON of a
/// `SelfSubjectReview`'s `status.userInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with `system:authenticated` added to `groups` (once), as the real server's
    /// authentication chain does for every successful authentication.
    pub fn authenticated(username: impl Into<String>, groups: &[String]) -> Self {
        let mut all: Vec<String> = Vec::with_capacity(groups.len() + 1);
        for group in groups {
            if !all.contains(group) {
                all.push(group.clone());
            }
        }
        if !all.iter().any(|g| g == AUTHENTICATED) {
            all.push(AUTHENTICATED.to_owned());
        }
        Self {
            username: username.into(),
            groups: all,
            ..Self::default()
        }
    }

    /// The administrator behind the kubeconfig's token.
    pub fn admin() -> Self {
        Self::authenticated(ADMIN_NAME, &[MASTERS.to_owned()])
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// A user with a static bearer token, declared in the scenario. Each gets its own `users` and
/// `contexts` entry (named after it) in the written kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaticUser {
    pub name: String,
    pub token: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub uid: Option<String>,
}

impl StaticUser {
    pub fn user_info(&self) -> UserInfo {
        let mut user = UserInfo::authenticated(&self.name, &self.groups);
        user.uid = self.uid.clone().unwrap_or_default();
        user
    }
}

/// An EKS access entry: which Kubernetes user and groups an IAM principal is. Field names follow
/// EKS's `CreateAccessEntry` API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessEntry {
    /// An IAM role (`arn:aws:iam::111122223333:role/deploy`) or user ARN.
    pub principal_arn: String,
    /// The Kubernetes user name; `{{AccountID}}` and `{{SessionName}}` are filled in. Without it,
    /// EKS's default: the assumed-role ARN with the session name for a role, the ARN for a user.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub kubernetes_groups: Vec<String>,
}

/// What STS says about a caller, reduced to what mapping needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The ARN as STS returned it (`arn:aws:sts::1:assumed-role/deploy/ci`).
    pub arn: String,
    /// The principal the access entry is looked up by (`arn:aws:iam::1:role/deploy`).
    pub canonical_arn: String,
    pub account: String,
    /// The role session name, for an assumed role.
    pub session_name: Option<String>,
}

impl Caller {
    /// Parses an STS caller ARN. An assumed-role session is reduced to its role, as EKS does
    /// (the session's ARN names no path, so neither does the role ARN it maps to).
    pub fn from_arn(arn: &str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (prefix, partition, service, _region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if prefix != "arn" || account.is_empty() {
            return None;
        }
        let (canonical_arn, session_name) = match (service, resource.split_once('/')) {
            ("sts", Some(("assumed-role", rest))) => {
                let (role, session) = rest.split_once('/')?;
                (
                    format!("arn:{partition}:iam::{account}:role/{role}"),
                    Some(session.to_owned()),
                )
            }
            // Users, roots and federated users are their own principals (moto names its default
            // caller `arn:aws:sts::…:user/moto`, so any IAM or STS principal is taken as is).
            ("iam" | "sts", _) => (arn.to_owned(), None),
            _ => return None,
        };
        Some(Self {
            arn: arn.to_owned(),
            canonical_arn,
            account: account.to_owned(),
            session_name,
        })
    }

    /// The user an access entry makes of this caller, with the `extra` EKS's authenticator adds.
    pub fn user(&self, entry: &AccessEntry) -> UserInfo {
        let default_name = match &self.session_name {
            Some(_) => self.arn.rsplit_once('/').map_or_else(
                || self.arn.clone(),
                |(role, _)| format!("{role}/{{{{SessionName}}}}"),
            ),
            None => self.arn.clone(),
        };
        let template = entry.username.clone().unwrap_or(default_name);
        let name = template.replace("{{AccountID}}", &self.account).replace(
            "{{SessionName}}",
            self.session_name.as_deref().unwrap_or(""),
        );
        let mut user = UserInfo::authenticated(name, &entry.kubernetes_groups);
        user.extra.insert("arn".to_owned(), vec![self.arn.clone()]);
        user.extra
            .insert("canonicalArn".to_owned(), vec![self.canonical_arn.clone()]);
        user.extra
            .insert("accountId".to_owned(), vec![self.account.clone()]);
        if let Some(session) = &self.session_name {
            user.extra
                .insert("sessionName".to_owned(), vec![session.clone()]);
        }
        user
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assumed_role_maps_by_its_role_arn() {
        let caller =
            Caller::from_arn("arn:aws:sts::111122223333:assumed-role/deploy/ci-run-7").unwrap();
        assert_eq!(
            caller.canonical_arn,
            "arn:aws:iam::111122223333:role/deploy"
        );
        assert_eq!(caller.session_name.as_deref(), Some("ci-run-7"));
        let entry = AccessEntry {
            principal_arn: caller.canonical_arn.clone(),
            username: None,
            kubernetes_groups: vec!["deployers".to_owned()],
        };
        let user = caller.user(&entry);
        assert_eq!(
            user.username,
            "arn:aws:sts::111122223333:assumed-role/deploy/ci-run-7"
        );
        assert_eq!(user.groups, ["deployers", AUTHENTICATED]);
        let named = caller.user(&AccessEntry {
            username: Some("deploy:{{SessionName}}@{{AccountID}}".to_owned()),
            ..entry
        });
        assert_eq!(named.username, "deploy:ci-run-7@111122223333");
    }

    #[test]
    fn users_keep_their_arn_and_other_arns_are_not_callers() {
        let caller = Caller::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
        assert_eq!(caller.canonical_arn, "arn:aws:iam::111122223333:user/alice");
        assert!(Caller::from_arn("arn:aws:s3:::bucket").is_none());
        assert!(Caller::from_arn("not-an-arn").is_none());
    }

    #[test]
    fn authenticated_is_added_once() {
        let user = UserInfo::authenticated("a", &[AUTHENTICATED.to_owned(), "x".to_owned()]);
        assert_eq!(user.groups, [AUTHENTICATED, "x"]);
    }
}
