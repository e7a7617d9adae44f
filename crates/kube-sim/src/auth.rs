//! Who may talk to the simulator, and who they are: the kubeconfig's static bearer token (the
//! administrator, in `system:masters`), the static users a scenario declares (each with its own
//! token and groups), and optionally EKS-style tokens (`k8s-aws-v1.` + a presigned STS
//! GetCallerIdentity URL), checked the way aws-iam-authenticator does and mapped to a user by the
//! scenario's access entries.
//!
//! An EKS caller whose principal has no access entry is refused with 401, as EKS refuses it
//! (`kubectl` prints "You must be logged in to the server (Unauthorized)"). A scenario that
//! declares no access entries at all keeps the simulator's older behaviour: every verified caller
//! is the cluster's creator, an administrator (EKS gives its creator admin access by default).

use hyper::HeaderMap;

use crate::api::status::ApiError;
use crate::eks_auth::EksAuth;
use crate::rbac::Mode;
use crate::rbac::authorize;
use crate::rbac::identity::{AccessEntry, Caller, MASTERS, StaticUser, UserInfo};

/// How requests are authenticated, and then authorized.
#[derive(Debug, Default)]
pub struct Authenticator {
    token: Option<String>,
    users: Vec<StaticUser>,
    eks: Option<EksAuth>,
    access_entries: Vec<AccessEntry>,
    mode: Mode,
}

impl Authenticator {
    pub fn new(token: Option<String>, eks: Option<EksAuth>) -> Self {
        Self {
            token,
            eks,
            ..Self::default()
        }
    }

    /// Adds the scenario's users, access entries and authorization mode.
    #[must_use]
    pub fn with_identities(
        mut self,
        users: Vec<StaticUser>,
        access_entries: Vec<AccessEntry>,
        mode: Mode,
    ) -> Self {
        self.users = users;
        self.access_entries = access_entries;
        self.mode = mode;
        self
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Returns the request's user, or answers 401 with a Status body.
    pub async fn check(&self, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
        let presented = headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(presented) = presented else {
            return Err(ApiError::unauthorized("Unauthorized: no bearer token"));
        };
        if let Some(token) = &self.token
            && constant_time_eq(presented.as_bytes(), token.as_bytes())
        {
            return Ok(UserInfo::admin());
        }
        // Every token is compared, so timing does not tell which user's token was close.
        let mut found = None;
        for user in &self.users {
            if constant_time_eq(presented.as_bytes(), user.token.as_bytes()) && found.is_none() {
                found = Some(user.user_info());
            }
        }
        if let Some(user) = found {
            return Ok(user);
        }
        if let Some(eks) = &self.eks
            && presented.starts_with(crate::eks_auth::TOKEN_PREFIX)
        {
            let arn = eks.verify(presented).await?;
            return self.eks_user(&arn);
        }
        Err(ApiError::unauthorized("Unauthorized"))
    }

    /// Authorizes one request for `user` (a no-op unless the scenario turned RBAC on).
    pub fn authorize(
        &self,
        sim: &crate::sim::Sim,
        user: &UserInfo,
        method: &str,
        path: &str,
        query: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        authorize(sim, self.mode, user, method, path, query)
    }

    fn eks_user(&self, arn: &str) -> Result<UserInfo, ApiError> {
        let caller = Caller::from_arn(arn).ok_or_else(|| {
            ApiError::unauthorized(format!("Unauthorized: {arn:?} is not an IAM user or role"))
        })?;
        if self.access_entries.is_empty() {
            let creator = AccessEntry {
                principal_arn: caller.canonical_arn.clone(),
                username: None,
                kubernetes_groups: vec![MASTERS.to_owned()],
            };
            return Ok(caller.user(&creator));
        }
        self.access_entries
            .iter()
            .find(|e| e.principal_arn == caller.canonical_arn)
            .map(|entry| caller.user(entry))
            .ok_or_else(|| ApiError::unauthorized("Unauthorized"))
    }
}

/// Compares without an early exit, so response time says nothing about how much of a token
/// matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
