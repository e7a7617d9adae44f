//! Loading the input set (`-f FILE|DIR|-`, repeatable) and checking it before anything is sent.
//!
//! Two steps, so that the caller can ask discovery about exactly the kinds the input uses:
//!
//! 1. [`load`] (or [`parse`] for text already in hand) reads files, directories and stdin into
//!    [`Loaded`]: every object with its [`Origin`] (source and 1-based document index), plus every
//!    problem met on the way. Reading never stops at the first bad document.
//! 2. [`Loaded::resolve`] checks each object (`apiVersion`, `kind`, `metadata.name` and its
//!    rules), decides each object's namespace with the caller's discovery answer (CRDs in the same
//!    set count as known), finds duplicates, and returns a [`ManifestSet`] or every problem of both
//!    steps together as [`ManifestErrors`], which becomes one `invalid-input` error (exit 2).
//!
//! The formats follow kubectl so that a set kubectl applies loads the same way here: documents are
//! split on `---` lines, a source whose first character is `{` is a JSON stream, `List` and
//! `*List` objects are flattened, directories are read in sorted order and only their `.yaml`,
//! `.yml` and `.json` files (recursively only with `-R`).
//!
//! Reading is bounded ([`limits`]): bytes per source and in all, and YAML nodes once aliases are
//! expanded. A set past a limit is refused before it is parsed into values, and a `-R` walk that
//! meets a symbolic link back into a directory it is inside reports the loop instead of following
//! it.

mod checks;
mod limits;
mod read;
mod resolve;
mod yaml;

pub use limits::{MAX_DOCUMENT_BYTES, MAX_NODES, MAX_SOURCE_BYTES, MAX_TOTAL_BYTES};

use std::fmt;
use std::io::Read;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use stage::StageError;

use crate::builtin::group_of;

/// Where a document was read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    Stdin,
    File(PathBuf),
    /// The manifests a release recorded (`k8s-apply rollback`).
    Revision {
        release: String,
        revision: u32,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stdin => f.write_str("<stdin>"),
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Revision { release, revision } => {
                write!(f, "revision {revision} of release {release}")
            }
        }
    }
}

/// Where an object came from, as a person would point at it: the source, the document's number
/// counted from 1, the item's number within a `List` document, and the line the document starts
/// on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source: Source,
    pub index: usize,
    pub item: Option<usize>,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} document {}", self.source, self.index)?;
        if let Some(item) = self.item {
            write!(f, " item {item}")?;
        }
        // A recorded revision has no lines to point at.
        if self.line == 0 {
            Ok(())
        } else {
            write!(f, " (line {})", self.line)
        }
    }
}

/// One `-f` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    Path(PathBuf),
}

impl Input {
    /// `-` is standard input, as kubectl has it; anything else a file or directory.
    pub fn from_arg(arg: &str) -> Self {
        if arg == "-" {
            Self::Stdin
        } else {
            Self::Path(PathBuf::from(arg))
        }
    }
}

/// The identity of an object within a set: two manifests with the same group, kind, namespace
/// and name are the same object, whatever their versions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    /// `None` for cluster-scoped kinds; namespaced ones always have one after [`Loaded::resolve`].
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// The API group, empty for the core group.
    pub fn group(&self) -> &str {
        group_of(&self.api_version)
    }
}

impl AsRef<Self> for ObjectRef {
    fn as_ref(&self) -> &Self {
        self
    }
}

impl fmt::Display for ObjectRef {
    /// `Deployment.apps app/web`, `Namespace app`: the kind qualified by its group as kubectl
    /// prints resources, so that two kinds of the same name in different groups stay apart.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        let group = self.group();
        if !group.is_empty() {
            write!(f, ".{group}")?;
        }
        match &self.namespace {
            Some(namespace) => write!(f, " {namespace}/{}", self.name),
            None => write!(f, " {}", self.name),
        }
    }
}

/// One checked object of the set.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub origin: Origin,
    /// The object as given, with `metadata.namespace` filled in for namespaced kinds that had
    /// none, so that the object says on its own where it lives (in the release record and diffs).
    pub object: Value,
    pub key: ObjectRef,
}

impl AsRef<ObjectRef> for Manifest {
    fn as_ref(&self) -> &ObjectRef {
        &self.key
    }
}

/// The checked input set, in input order, with no duplicates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManifestSet {
    manifests: Vec<Manifest>,
}

impl ManifestSet {
    pub fn manifests(&self) -> &[Manifest] {
        &self.manifests
    }

    pub fn len(&self) -> usize {
        self.manifests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.manifests.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Manifest> {
        self.manifests.iter()
    }

    pub fn into_manifests(self) -> Vec<Manifest> {
        self.manifests
    }

    /// For in-crate rewrites that keep every key valid (image replacement); callers outside would
    /// be able to change a kind or name behind the key's back.
    pub(crate) fn manifests_mut(&mut self) -> &mut [Manifest] {
        &mut self.manifests
    }
}

impl<'a> IntoIterator for &'a ManifestSet {
    type Item = &'a Manifest;
    type IntoIter = std::slice::Iter<'a, Manifest>;

    fn into_iter(self) -> Self::IntoIter {
        self.manifests.iter()
    }
}

/// One thing wrong with the input, where it is, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `None` for problems of a whole source (a missing file) or of the set (unknown kinds).
    pub origin: Option<Origin>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(origin) => write!(f, "{origin}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every problem found in the input, reported together so that one run shows everything to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestErrors {
    problems: Vec<Problem>,
}

impl ManifestErrors {
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        let plural = if count == 1 { "" } else { "s" };
        write!(
            f,
            "{count} problem{plural} in the manifests; nothing was applied"
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl From<ManifestErrors> for StageError {
    fn from(errors: ManifestErrors) -> Self {
        Self::invalid_input(errors.to_string()).with_hint(
            "fix each problem listed; documents are counted from 1 in each file, split at '---' lines",
        )
    }
}

/// One object as read, before it is checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub origin: Origin,
    pub object: Value,
}

/// How namespaced objects without `metadata.namespace` get one, and whether one that has its own
/// may differ (kubectl refuses that when `-n` was given explicitly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespacing<'a> {
    /// `-n`, else the kubeconfig context's namespace, else `default`.
    pub default: &'a str,
    /// Whether `-n/--namespace` was given.
    pub explicit: bool,
}

/// What reading the inputs produced: the documents that parsed, and every problem met.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    documents: Vec<Document>,
    problems: Vec<Problem>,
    /// What is left of the input limits.
    budget: limits::Budget,
    /// A limit was reached: nothing more is read.
    over_limit: bool,
}

/// Reads every input in order. Problems (a missing file, a YAML error) are collected, and reading
/// goes on with the next document or source, so that [`Loaded::resolve`] can report them all.
pub fn load(inputs: &[Input], recursive: bool, stdin: &mut dyn Read) -> Loaded {
    let mut loaded = Loaded::default();
    let mut stdin_read = false;
    for input in inputs {
        if loaded.over_limit {
            break;
        }
        match input {
            Input::Stdin if stdin_read => loaded.problem(
                None,
                "`-f -` is given more than once: standard input can be read only once",
            ),
            Input::Stdin => {
                stdin_read = true;
                match loaded.read_bounded(&Source::Stdin, stdin) {
                    Ok(Some(bytes)) => loaded.add_bytes(&Source::Stdin, &bytes, false),
                    Ok(None) => {}
                    Err(err) => {
                        loaded.problem(None, format!("cannot read standard input: {err}"));
                    }
                }
            }
            Input::Path(path) => loaded.add_path(path, recursive, true, &mut Vec::new()),
        }
    }
    loaded
}

/// Parses one source's text (multi-document YAML, or a JSON stream when it starts with `{`).
pub fn parse(source: &Source, text: &str) -> Loaded {
    let mut loaded = Loaded::default();
    loaded.add_text(source, text, false);
    loaded
}

impl Loaded {
    /// Objects already in hand (a recorded revision's manifests), one document each, to be
    /// checked by [`Self::resolve`] like any input.
    pub fn from_objects(source: &Source, objects: Vec<Value>) -> Self {
        let documents = objects
            .into_iter()
            .enumerate()
            .map(|(i, object)| Document {
                origin: Origin {
                    source: source.clone(),
                    index: i + 1,
                    item: None,
                    line: 0,
                },
                object,
            })
            .collect();
        Self {
            documents,
            ..Self::default()
        }
    }

    /// The problems so far when an input limit was reached, so that the caller can stop before
    /// doing anything else (connecting included): the set is refused whatever the cluster says.
    pub fn check_limits(&self) -> Result<(), ManifestErrors> {
        if self.over_limit {
            Err(ManifestErrors {
                problems: self.problems.clone(),
            })
        } else {
            Ok(())
        }
    }

    pub fn documents(&self) -> &[Document] {
        &self.documents
    }

    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Adds another load's documents and problems after these.
    pub fn extend(&mut self, other: Self) {
        self.documents.extend(other.documents);
        self.problems.extend(other.problems);
        self.over_limit |= other.over_limit;
    }

    /// The distinct `(apiVersion, kind)` pairs the documents use, for the caller to look up in
    /// discovery before [`Self::resolve`].
    pub fn kinds(&self) -> Vec<(String, String)> {
        let mut kinds: Vec<(String, String)> = self
            .documents
            .iter()
            .filter_map(|doc| {
                let api_version = doc.object.get("apiVersion")?.as_str()?;
                let kind = doc.object.get("kind")?.as_str()?;
                Some((api_version.to_owned(), kind.to_owned()))
            })
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    fn problem(&mut self, origin: Option<Origin>, message: impl Into<String>) {
        self.problems.push(Problem {
            origin,
            message: message.into(),
        });
    }
}

#[cfg(test)]
mod tests;
