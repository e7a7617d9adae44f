//! The kinds the cluster serves, from discovery: which API path each kind goes to, and whether it
//! is namespaced. k8s-apply asks for the group versions of its set (and of the revisions it
//! prunes from); rollout-wait for the kinds of its upstream document that its own table lacks.

use std::collections::{BTreeSet, HashMap};

use futures_util::{StreamExt, stream};
use kube::core::{ApiResource, GroupVersion};
use stage::StageError;

/// How many discovery requests are in flight at once.
const PARALLEL_DISCOVERY: usize = 8;

/// The kinds the cluster serves, from discovery.
#[derive(Debug)]
pub struct Kinds {
    resources: HashMap<(String, String), (ApiResource, bool)>,
    /// The group versions asked about so far, served or not.
    asked: BTreeSet<String>,
}

impl Kinds {
    /// Looks up the group versions the set uses, one request each, concurrently, every one
    /// retried on its
    /// own: a full discovery is dozens of requests, and one flaky answer among them should not
    /// cost all of them again. A group version the server does not serve (404) has no kinds.
    pub async fn discover(
        client: &kube::Client,
        api_versions: &[String],
    ) -> Result<Self, StageError> {
        // Concurrently: each is a round trip to a possibly distant API server.
        let answers = stream::iter(api_versions)
            .map(|api_version| async move {
                let what = format!("discovering the kinds of {api_version}");
                let listed = crate::retry(&what, || async {
                    let answer = if api_version.contains('/') {
                        client.list_api_group_resources(api_version).await
                    } else {
                        client.list_core_api_resources(api_version).await
                    };
                    match answer {
                        Ok(list) => Ok(Some(list)),
                        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
                        Err(err) => Err(err),
                    }
                })
                .await
                .map_err(|err| crate::api_error(&what, &err))?;
                Ok::<_, StageError>((api_version, listed))
            })
            .buffered(PARALLEL_DISCOVERY)
            .collect::<Vec<_>>()
            .await;
        let mut resources = HashMap::new();
        for answer in answers {
            let (api_version, listed) = answer?;
            let Some(list) = listed else { continue };
            let Ok(gv) = api_version.parse::<GroupVersion>() else {
                continue;
            };
            // Subresources (`deployments/scale`) share their parent's kind; skip them.
            for resource in list.resources.iter().filter(|r| !r.name.contains('/')) {
                let gvk = gv.clone().with_kind(&resource.kind);
                resources.insert(
                    (api_version.clone(), resource.kind.clone()),
                    (
                        ApiResource::from_gvk_with_plural(&gvk, &resource.name),
                        resource.namespaced,
                    ),
                );
            }
        }
        Ok(Self {
            resources,
            asked: api_versions.iter().cloned().collect(),
        })
    }

    pub fn namespaced(&self, api_version: &str, kind: &str) -> Option<bool> {
        self.resources
            .get(&(api_version.to_owned(), kind.to_owned()))
            .map(|(_, namespaced)| *namespaced)
    }

    pub fn resource(&self, api_version: &str, kind: &str) -> Option<&ApiResource> {
        self.resources
            .get(&(api_version.to_owned(), kind.to_owned()))
            .map(|(resource, _)| resource)
    }
}

impl Kinds {
    /// Looks up the group versions not asked about yet (a revision recorded while this run
    /// waited for the lock may use kinds the input does not).
    pub async fn add(
        &mut self,
        client: &kube::Client,
        api_versions: &[String],
    ) -> Result<(), StageError> {
        let new: Vec<String> = api_versions
            .iter()
            .filter(|v| !self.asked.contains(*v))
            .cloned()
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let found = Self::discover(client, &new).await?;
        self.resources.extend(found.resources);
        self.asked.extend(found.asked);
        Ok(())
    }

    /// Looks up every group version asked about so far again: after CRDs of the set were
    /// created, their kinds are served.
    pub async fn refresh(&mut self, client: &kube::Client) -> Result<(), StageError> {
        let asked: Vec<String> = self.asked.iter().cloned().collect();
        *self = Self::discover(client, &asked).await?;
        Ok(())
    }
}
