//! Container images in the set: parsing image references, `--set-image NAME=REF` (as
//! `kustomize edit set image`, by container name or image repository), `--expect-tag TAG` (every
//! image at the release's tag, checked before anything is applied), and the list of images for
//! the output document.
//!
//! Only the pod templates of built-in kinds are looked at (Pod, Deployment, StatefulSet,
//! DaemonSet, ReplicaSet, `ReplicationController`, Job, CronJob, PodTemplate): a custom resource's
//! schema is its own, and guessing where its images are could rewrite the wrong field.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;
use stage::StageError;

use crate::builtin::is_builtin_group;
use crate::manifest::{Manifest, ManifestSet, ObjectRef};

/// Why an image reference, a `--set-image` or an `--expect-tag` value is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ImageError(String);

/// A parsed image reference: `[domain/]path[:tag][@digest]`, as the container runtimes read it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The registry, with its port if any (`localhost:5000`); `None` means Docker Hub.
    pub domain: Option<String>,
    /// The repository path within the registry (`library/nginx`, `team/api`).
    pub path: String,
    pub tag: Option<String>,
    /// `algorithm:hex`, e.g. `sha256:…`.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses a reference, checking each part against the reference grammar.
    pub fn parse(reference: &str) -> Result<Self, ImageError> {
        let fail = |why: &str| {
            Err(ImageError(format!(
                "{reference:?} is not an image reference: {why}"
            )))
        };
        if reference.is_empty() {
            return fail("it is empty");
        }
        let (name_tag, digest) = match reference.split_once('@') {
            Some((name_tag, digest)) => (name_tag, Some(digest)),
            None => (reference, None),
        };
        if let Some(digest) = digest
            && !is_digest(digest)
        {
            return fail(
                "the digest after '@' must be ALGORITHM:HEX, e.g. sha256 and 64 hex digits",
            );
        }
        // A ':' after the last '/' starts the tag; one before it belongs to a registry port.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(colon) => {
                let colon = last_slash + colon;
                (&name_tag[..colon], Some(&name_tag[colon + 1..]))
            }
            None => (name_tag, None),
        };
        if let Some(tag) = tag
            && !is_tag(tag)
        {
            return fail(
                "the tag must be 1-128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
            );
        }
        if name.len() > 255 {
            return fail("the name is longer than 255 characters");
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest)) if looks_like_domain(first) => (Some(first), rest),
            _ => (None, name),
        };
        if let Some(domain) = domain
            && !is_domain(domain)
        {
            return fail("the registry must be a host name or address with an optional :port");
        }
        if !path.split('/').all(is_path_component) {
            return fail(
                "each part of the repository path must be lowercase letters and digits, separated by '.', '_', '__' or '-'",
            );
        }
        Ok(Self {
            domain: domain.map(str::to_owned),
            path: path.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// The repository as written: `registry.example/api`, `nginx`.
    pub fn repository(&self) -> String {
        match &self.domain {
            Some(domain) => format!("{domain}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// The repository in full (`docker.io/library/nginx` for `nginx`), so that the short and the
    /// long spelling of a Docker Hub image match each other.
    pub fn canonical_repository(&self) -> String {
        let domain = match self.domain.as_deref() {
            None | Some("index.docker.io") => "docker.io",
            Some(domain) => domain,
        };
        if domain == "docker.io" && !self.path.contains('/') {
            format!("docker.io/library/{}", self.path)
        } else {
            format!("{domain}/{}", self.path)
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The first part of a name is a registry when it could not be a repository path component:
/// it has a '.' or a ':' (port), is `localhost`, or has capitals. This is the rule the Docker
/// tooling uses, so `myteam/app` stays on Docker Hub while `registry.local/app` does not.
fn looks_like_domain(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

fn is_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        // An IPv6 address in brackets, optionally with a port after them.
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after.strip_prefix(':') {
            Some(port) => ("", Some(port)),
            None if after.is_empty() => ("", None),
            None => return false,
        }
    } else {
        match domain.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    let host_ok = (host.is_empty() && domain.starts_with('['))
        || host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        });
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// Lowercase letters and digits in runs separated by `.`, `_`, `__` or any number of `-`.
fn is_path_component(part: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = part.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &part[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    tag.len() <= 128
        && tag.as_bytes().first().is_some_and(|&b| word(b))
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-')
}

fn is_digest(digest: &str) -> bool {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return false;
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let encoded_ok = if algorithm == "sha256" {
        encoded.len() == 64
            && encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    } else {
        encoded.len() >= 32
            && encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
    };
    algorithm_ok && encoded_ok
}

/// One `--set-image NAME=REF`: NAME is a container name or an image repository (without tag or
/// digest); every container it matches gets REF as its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetImage {
    pub name: String,
    pub image: ImageRef,
    /// The canonical repository NAME stands for, when NAME is one.
    repository: Option<String>,
}

impl FromStr for SetImage {
    type Err = ImageError;

    fn from_str(arg: &str) -> Result<Self, Self::Err> {
        let Some((name, reference)) = arg.split_once('=') else {
            return Err(ImageError(format!(
                "--set-image {arg:?}: expected NAME=IMAGE, e.g. api=registry.example/api:1.4.2"
            )));
        };
        if name.is_empty() {
            return Err(ImageError(format!(
                "--set-image {arg:?}: NAME before '=' is empty; give a container name or an image repository"
            )));
        }
        let image = ImageRef::parse(reference)
            .map_err(|err| ImageError(format!("--set-image {arg:?}: {err}")))?;
        let repository = match ImageRef::parse(name) {
            Ok(parsed) if parsed.tag.is_none() && parsed.digest.is_none() => {
                Some(parsed.canonical_repository())
            }
            _ if crate::names::is_dns_label(name) => None,
            _ => {
                return Err(ImageError(format!(
                    "--set-image {arg:?}: NAME must be a container name or an image repository without tag or digest"
                )));
            }
        };
        Ok(Self {
            name: name.to_owned(),
            image,
            repository,
        })
    }
}

impl SetImage {
    fn matches(&self, container: &str, image: &str) -> bool {
        container == self.name
            || self.repository.as_ref().is_some_and(|wanted| {
                ImageRef::parse(image).is_ok_and(|parsed| parsed.canonical_repository() == *wanted)
            })
    }
}

/// One container's image, for the output document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageUse {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub container: String,
    pub image: String,
}

/// One image `--set-image` replaced, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageChange {
    pub object: ObjectRef,
    pub container: String,
    pub from: String,
    pub to: String,
}

impl fmt::Display for ImageChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} container {}: {} → {}",
            self.object, self.container, self.from, self.to
        )
    }
}

/// Where a container's image is: which manifest, the JSON pointer of its `image` field, and the
/// container's name and current image.
struct Slot {
    manifest: usize,
    pointer: String,
    container: String,
    image: String,
}

/// Where the pod spec is in an object of a built-in kind that has one.
fn pod_spec_pointer(key: &ObjectRef) -> Option<&'static str> {
    let group = key.group();
    if !is_builtin_group(group) {
        return None;
    }
    match (group, key.kind.as_str()) {
        ("", "Pod") => Some("/spec"),
        ("", "PodTemplate") => Some("/template/spec"),
        ("", "ReplicationController")
        | ("apps" | "extensions", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job") => Some("/spec/template/spec"),
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

fn slots(manifests: &[Manifest]) -> Vec<Slot> {
    let mut slots = Vec::new();
    for (index, manifest) in manifests.iter().enumerate() {
        let Some(spec_pointer) = pod_spec_pointer(&manifest.key) else {
            continue;
        };
        let Some(spec) = manifest.object.pointer(spec_pointer) else {
            continue;
        };
        // Init containers first: that is the order they run in, and the order people read them.
        for list in ["initContainers", "containers"] {
            let Some(containers) = spec.get(list).and_then(Value::as_array) else {
                continue;
            };
            for (position, container) in containers.iter().enumerate() {
                let (Some(name), Some(image)) = (
                    container.get("name").and_then(Value::as_str),
                    container.get("image").and_then(Value::as_str),
                ) else {
                    continue;
                };
                slots.push(Slot {
                    manifest: index,
                    pointer: format!("{spec_pointer}/{list}/{position}/image"),
                    container: name.to_owned(),
                    image: image.to_owned(),
                });
            }
        }
    }
    slots
}

/// Every container image of the set, init containers first within an object, in input order.
pub fn images(set: &ManifestSet) -> Vec<ImageUse> {
    let manifests = set.manifests();
    slots(manifests)
        .into_iter()
        .map(|slot| {
            let key = &manifests[slot.manifest].key;
            ImageUse {
                kind: key.kind.clone(),
                namespace: key.namespace.clone(),
                name: key.name.clone(),
                container: slot.container,
                image: slot.image,
            }
        })
        .collect()
}

/// Applies `--set-image` rules. Every rule must match at least one container, and no container
/// may be matched by two rules (which of them should win is not ours to guess); otherwise nothing
/// is changed and the error names every rule at fault (exit 2).
pub fn set_images(
    set: &mut ManifestSet,
    rules: &[SetImage],
) -> Result<Vec<ImageChange>, StageError> {
    let slots = slots(set.manifests());
    let mut used = vec![false; rules.len()];
    let mut planned = Vec::new();
    let mut conflicts = Vec::new();
    for slot in &slots {
        let matching: Vec<usize> = (0..rules.len())
            .filter(|&i| rules[i].matches(&slot.container, &slot.image))
            .collect();
        for &i in &matching {
            used[i] = true;
        }
        match matching.as_slice() {
            [] => {}
            [only] => planned.push((slot, *only)),
            several => {
                let names: Vec<String> = several
                    .iter()
                    .map(|&i| format!("--set-image {}=…", rules[i].name))
                    .collect();
                conflicts.push(format!(
                    "{} container {} ({}) is matched by {}; keep one",
                    set.manifests()[slot.manifest].key,
                    slot.container,
                    slot.image,
                    names.join(" and ")
                ));
            }
        }
    }
    let mut problems: Vec<String> = rules
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(rule, _)| {
            format!(
                "--set-image {}={}: no container is named {:?} and no image is in repository {:?}",
                rule.name, rule.image, rule.name, rule.name
            )
        })
        .collect();
    problems.extend(conflicts);
    if !problems.is_empty() {
        let known: BTreeSet<String> = slots
            .iter()
            .flat_map(|slot| {
                let repository = ImageRef::parse(&slot.image).map(|r| r.repository()).ok();
                std::iter::once(slot.container.clone()).chain(repository)
            })
            .collect();
        let known: Vec<String> = known.into_iter().collect();
        return Err(
            StageError::usage(problems.join("\n")).with_hint(if known.is_empty() {
                "the manifests have no containers".to_owned()
            } else {
                format!(
                    "container names and repositories in the manifests: {}",
                    known.join(", ")
                )
            }),
        );
    }
    let mut changes = Vec::new();
    let manifests = set.manifests_mut();
    for (slot, rule) in planned {
        let to = rules[rule].image.to_string();
        if let Some(image) = manifests[slot.manifest].object.pointer_mut(&slot.pointer) {
            *image = Value::String(to.clone());
        }
        changes.push(ImageChange {
            object: manifests[slot.manifest].key.clone(),
            container: slot.container.clone(),
            from: slot.image.clone(),
            to,
        });
    }
    Ok(changes)
}

/// Checks an `--expect-tag` value: a valid tag, and not `latest`, which names no release.
pub fn parse_expected_tag(tag: &str) -> Result<String, ImageError> {
    if tag == "latest" {
        return Err(ImageError(
            "--expect-tag latest: 'latest' names no particular release; give the release's tag"
                .to_owned(),
        ));
    }
    if !is_tag(tag) {
        return Err(ImageError(format!(
            "--expect-tag {tag:?}: a tag is 1-128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        )));
    }
    Ok(tag.to_owned())
}

/// Why an image is not at the expected tag, or `None` when it is. `repo:TAG@sha256:…` counts as
/// tagged TAG (the digest pins it further); a bare digest has no tag to compare.
fn tag_problem(image: &str, expected: &str) -> Option<String> {
    let parsed = match ImageRef::parse(image) {
        Ok(parsed) => parsed,
        Err(err) => return Some(err.to_string()),
    };
    match parsed.tag.as_deref() {
        None if parsed.digest.is_some() => Some("pinned by digest only, no tag".to_owned()),
        None => Some("untagged (means latest)".to_owned()),
        Some("latest") => Some("tagged latest".to_owned()),
        Some(tag) if tag != expected => Some(format!("tagged {tag}")),
        Some(_) => None,
    }
}

/// Whether `--expect-tag-for PREFIX` covers an image: its repository, as written or in full
/// (`docker.io/team/api` for `team/api`), is PREFIX or lies under it. The match stops at a path
/// boundary, so `docker.io/team` does not cover `docker.io/team-tools/x`.
fn in_scope(image: &str, scopes: &[String]) -> bool {
    if scopes.is_empty() {
        return true;
    }
    let Ok(parsed) = ImageRef::parse(image) else {
        // An unparsable reference is reported by the tag check whatever its scope.
        return true;
    };
    let spellings = [parsed.repository(), parsed.canonical_repository()];
    scopes.iter().any(|scope| {
        let scope = scope.trim_end_matches('/');
        spellings.iter().any(|repository| {
            repository == scope
                || repository
                    .strip_prefix(scope)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    })
}

/// `--expect-tag TAG`: every image of the set (or, with `--expect-tag-for`, every image from
/// those repositories) must be tagged TAG. The error lists every offending container (exit 2,
/// before anything is applied).
pub fn check_tags(set: &ManifestSet, expected: &str, scopes: &[String]) -> Result<(), StageError> {
    let in_set = images(set);
    if !scopes.is_empty() && !in_set.iter().any(|image| in_scope(&image.image, scopes)) {
        return Err(StageError::invalid_input(format!(
            "--expect-tag-for {}: no image of the set comes from there, so --expect-tag {expected} checks nothing",
            scopes.join(", ")
        ))
        .with_hint("name the repositories your pipeline builds, e.g. --expect-tag-for docker.io/team/"));
    }
    let offenders: Vec<String> = in_set
        .into_iter()
        .filter(|image| in_scope(&image.image, scopes))
        .filter_map(|image| {
            let why = tag_problem(&image.image, expected)?;
            let object = match &image.namespace {
                Some(namespace) => format!("{} {namespace}/{}", image.kind, image.name),
                None => format!("{} {}", image.kind, image.name),
            };
            Some(format!(
                "{object} container {} → {} ({why})",
                image.container, image.image
            ))
        })
        .collect();
    if offenders.is_empty() {
        return Ok(());
    }
    let count = offenders.len();
    let plural = if count == 1 { "image is" } else { "images are" };
    Err(StageError::invalid_input(format!(
        "--expect-tag {expected}: {count} {plural} not at that tag:\n  - {}",
        offenders.join("\n  - ")
    ))
    .with_hint(format!(
        "set them with --set-image NAME=REPOSITORY:{expected}, or fix the manifests"
    )))
}

#[cfg(test)]
mod tests;
