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

mod limits;

pub use limits::{MAX_DOCUMENT_BYTES, MAX_NODES, MAX_SOURCE_BYTES, MAX_TOTAL_BYTES};

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use stage::StageError;

use crate::builtin::group_of;
use crate::names::{NameRule, is_dns_label};

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

    /// Reads a path given with `-f` (`top`) or found in a directory. `walking` holds the
    /// directories the walk is inside (by device and inode), to notice a symbolic link back into
    /// one of them.
    fn add_path(&mut self, path: &Path, recursive: bool, top: bool, walking: &mut Vec<(u64, u64)>) {
        if self.over_limit {
            return;
        }
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(err) => {
                let what = if err.kind() == std::io::ErrorKind::NotFound {
                    "does not exist; check the -f path".to_owned()
                } else {
                    format!("cannot be read: {err}")
                };
                self.problem(None, format!("{}: {what}", path.display()));
                return;
            }
        };
        if metadata.is_dir() {
            // kubectl reads only the directory itself unless -R, and only manifest extensions
            // in it, so that a README or a kustomization's patches next to the manifests are not
            // taken for objects.
            if top || recursive {
                self.add_dir(path, &metadata, recursive, walking);
            }
            return;
        }
        let source = Source::File(path.to_owned());
        if metadata.len() > MAX_SOURCE_BYTES.min(self.budget.bytes_left) {
            // Refused from its size alone, without reading it.
            self.too_big(&source, metadata.len());
            return;
        }
        let is_json = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        let read =
            std::fs::File::open(path).and_then(|mut file| self.read_bounded(&source, &mut file));
        match read {
            Ok(Some(bytes)) => self.add_bytes(&source, &bytes, is_json),
            Ok(None) => {}
            Err(err) => self.problem(None, format!("{}: cannot be read: {err}", path.display())),
        }
    }

    /// Reads a source up to what the limits allow; `None` (and the problem recorded) past them.
    /// The read stops one byte past the limit, so that an endless source cannot fill memory.
    fn read_bounded(
        &mut self,
        source: &Source,
        reader: &mut dyn Read,
    ) -> std::io::Result<Option<Vec<u8>>> {
        let limit = MAX_SOURCE_BYTES.min(self.budget.bytes_left);
        let mut bytes = Vec::new();
        reader.take(limit + 1).read_to_end(&mut bytes)?;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if len > limit {
            self.too_big(source, len);
            return Ok(None);
        }
        self.budget.bytes_left -= len;
        Ok(Some(bytes))
    }

    /// The problem of a source past the byte limits; reading stops there.
    fn too_big(&mut self, source: &Source, len: u64) {
        let message = if len > MAX_SOURCE_BYTES {
            format!(
                "{source}: more than {} MiB; k8s-apply reads at most {} MiB from one file or standard input (a YAML or JSON manifest set is far smaller); split the set or check that this is the file you meant",
                MAX_SOURCE_BYTES >> 20,
                MAX_SOURCE_BYTES >> 20
            )
        } else {
            format!(
                "{source}: the input passes {} MiB with this source; k8s-apply reads at most {} MiB in all; apply the set in parts or check the -f paths",
                MAX_TOTAL_BYTES >> 20,
                MAX_TOTAL_BYTES >> 20
            )
        };
        self.problem(None, message);
        self.over_limit = true;
    }

    fn add_dir(
        &mut self,
        dir: &Path,
        metadata: &std::fs::Metadata,
        recursive: bool,
        walking: &mut Vec<(u64, u64)>,
    ) {
        use std::os::unix::fs::MetadataExt;

        let identity = (metadata.dev(), metadata.ino());
        if walking.contains(&identity) {
            // What kubectl's walk never meets (it does not follow links to directories), and
            // what following would read again and again: refused, naming the link.
            let target = std::fs::read_link(dir)
                .map_or_else(|_| "a directory".to_owned(), |t| t.display().to_string());
            self.problem(
                None,
                format!(
                    "{}: a symbolic link to {target}, a directory this -R walk is already inside; following it would loop. Remove the link, or give the directories with separate -f flags",
                    dir.display()
                ),
            );
            return;
        }
        walking.push(identity);
        self.add_dir_entries(dir, recursive, walking);
        walking.pop();
    }

    fn add_dir_entries(&mut self, dir: &Path, recursive: bool, walking: &mut Vec<(u64, u64)>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => {
                self.problem(None, format!("{}: cannot be read: {err}", dir.display()));
                return;
            }
        };
        let mut paths = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => paths.push(entry.path()),
                Err(err) => {
                    self.problem(None, format!("{}: cannot be listed: {err}", dir.display()));
                }
            }
        }
        // Sorted so that the set, its document numbers and its error messages are the same on
        // every machine, whatever order the file system lists entries in.
        paths.sort();
        for path in paths {
            if path.is_dir() {
                if recursive {
                    self.add_path(&path, recursive, false, walking);
                }
            } else if has_manifest_extension(&path) {
                self.add_path(&path, recursive, false, walking);
            }
        }
    }

    fn add_bytes(&mut self, source: &Source, bytes: &[u8], is_json: bool) {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.add_text(source, text, is_json),
            Err(err) => self.problem(
                None,
                format!(
                    "{source}: not UTF-8 text (invalid byte at offset {}); save the file as UTF-8",
                    err.valid_up_to()
                ),
            ),
        }
    }

    fn add_text(&mut self, source: &Source, text: &str, is_json: bool) {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // kubectl sniffs the same way: JSON if the first non-blank character opens an object.
        if is_json || text.trim_start().starts_with('{') {
            self.add_json(source, text);
        } else {
            self.add_yaml(source, text);
        }
    }

    fn add_json(&mut self, source: &Source, text: &str) {
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        let mut index = 0;
        loop {
            let start = stream.byte_offset();
            let line = line_of(text, start + leading_blank(&text[start..]));
            let Some(next) = stream.next() else { break };
            index += 1;
            let origin = Origin {
                source: source.clone(),
                index,
                item: None,
                line,
            };
            match next {
                Ok(value) => self.add_object(origin, value),
                Err(err) => {
                    // A JSON stream cannot be resynchronised after a syntax error, so the rest of
                    // this source is skipped; other sources are still read.
                    self.problem(Some(origin), format!("invalid JSON: {err}"));
                    break;
                }
            }
        }
    }

    fn add_yaml(&mut self, source: &Source, text: &str) {
        let mut index = 0;
        for chunk in split_documents(text) {
            // Each chunk is parsed on its own, so that a syntax error loses only its document.
            let line = chunk.first_line + content_offset(chunk.text);
            if chunk.text.len() > MAX_DOCUMENT_BYTES {
                let origin = Origin {
                    source: source.clone(),
                    index: index + 1,
                    item: None,
                    line,
                };
                self.problem(
                    Some(origin),
                    format!(
                        "this document is more than {} MiB, larger than the API server accepts for one object; split it, or check that this is the file you meant",
                        MAX_DOCUMENT_BYTES >> 20
                    ),
                );
                self.over_limit = true;
                return;
            }
            // Its nodes are counted first, aliases expanded, so that no value is built past the
            // limit.
            if let Err(over) = limits::count_nodes(chunk.text, &mut self.budget) {
                let origin = Origin {
                    source: source.clone(),
                    index: index + over.position + 1,
                    item: None,
                    line,
                };
                let at = over.line.map_or_else(String::new, |l| {
                    format!(" (reached at line {})", chunk.first_line + l - 1)
                });
                let why = if chunk.text.contains('*') {
                    "nested aliases that repeat anchors (a \"billion laughs\") make a few KiB describe billions of nodes. Write the repeated parts out, or apply the set in parts"
                } else {
                    "apply the set in parts"
                };
                self.problem(
                    Some(origin),
                    format!(
                        "the input holds more than {MAX_NODES} YAML nodes once its aliases (*name) are expanded{at}, more than k8s-apply reads: {why}"
                    ),
                );
                self.over_limit = true;
                return;
            }
            for (position, doc) in serde_yaml_ng::Deserializer::from_str(chunk.text).enumerate() {
                index += 1;
                let origin = Origin {
                    source: source.clone(),
                    index,
                    item: None,
                    line,
                };
                match yaml_to_json(doc) {
                    Ok(Value::Null) => {} // an empty or comment-only document
                    Ok(value) => self.add_object(origin, value),
                    Err(message) => {
                        let message = file_positions(&chunk, position).unwrap_or(message);
                        self.problem(Some(origin), message);
                        break;
                    }
                }
            }
        }
    }

    /// Adds an object, or the items of a `List`.
    fn add_object(&mut self, origin: Origin, value: Value) {
        let Some((list_kind, list_api_version, items)) = list_items(&value) else {
            self.documents.push(Document {
                origin,
                object: value,
            });
            return;
        };
        // A typed list (`ConfigMapList`, as `kubectl get -o yaml` prints) may leave its items'
        // apiVersion and kind out; they are the list's.
        let item_kind = list_kind
            .strip_suffix("List")
            .filter(|kind| !kind.is_empty());
        for (position, item) in items.iter().enumerate() {
            let mut object = item.clone();
            if let (Some(kind), Some(map)) = (item_kind, object.as_object_mut()) {
                map.entry("kind")
                    .or_insert_with(|| Value::String(kind.to_owned()));
                if let Some(api_version) = list_api_version {
                    map.entry("apiVersion")
                        .or_insert_with(|| Value::String(api_version.to_owned()));
                }
            }
            self.documents.push(Document {
                origin: Origin {
                    item: Some(position + 1),
                    ..origin.clone()
                },
                object,
            });
        }
    }

    /// Checks every object and decides its namespace.
    ///
    /// `is_namespaced(api_version, kind)` is the cluster's answer from discovery (`None`: the
    /// cluster does not serve that kind). CustomResourceDefinitions in the set are consulted
    /// first, since they describe the kinds as they will be once the set is applied.
    pub fn resolve(
        self,
        namespacing: &Namespacing<'_>,
        is_namespaced: impl Fn(&str, &str) -> Option<bool>,
    ) -> Result<ManifestSet, ManifestErrors> {
        let mut problems = self.problems;
        if !is_dns_label(namespacing.default) {
            problems.push(Problem {
                origin: None,
                message: format!(
                    "namespace {:?} (from --namespace or the kubeconfig context) is not a valid namespace; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
                    namespacing.default
                ),
            });
        }
        let mut checked = Vec::new();
        for doc in self.documents {
            let mut found = Vec::new();
            let fields = check_object(&doc.object, &mut found);
            problems.extend(found.into_iter().map(|message| Problem {
                origin: Some(doc.origin.clone()),
                message,
            }));
            if let Some(fields) = fields {
                checked.push((doc, fields));
            }
        }
        let defined = crd_scopes(&checked, &mut problems);

        let mut unknown: BTreeMap<KindKey, Vec<Origin>> = BTreeMap::new();
        let mut seen: HashMap<(String, String, Option<String>, String), Origin> = HashMap::new();
        let mut manifests = Vec::new();
        for (mut doc, fields) in checked {
            let scope = defined
                .get(&(fields.api_version.clone(), fields.kind.clone()))
                .copied()
                .or_else(|| is_namespaced(&fields.api_version, &fields.kind));
            let Some(namespaced) = scope else {
                unknown
                    .entry((fields.api_version, fields.kind))
                    .or_default()
                    .push(doc.origin);
                continue;
            };
            let namespace = match place(&mut doc.object, &fields, namespaced, namespacing) {
                Ok(namespace) => namespace,
                Err(message) => {
                    problems.push(Problem {
                        origin: Some(doc.origin),
                        message,
                    });
                    continue;
                }
            };
            let key = ObjectRef {
                api_version: fields.api_version,
                kind: fields.kind,
                namespace,
                name: fields.name,
            };
            let identity = (
                key.group().to_owned(),
                key.kind.clone(),
                key.namespace.clone(),
                key.name.clone(),
            );
            if let Some(first) = seen.get(&identity) {
                problems.push(Problem {
                    origin: Some(doc.origin),
                    message: format!(
                        "{key} is also defined in {first}; each object may appear once, remove one of them"
                    ),
                });
                continue;
            }
            seen.insert(identity, doc.origin.clone());
            manifests.push(Manifest {
                origin: doc.origin,
                object: doc.object,
                key,
            });
        }
        problems.extend(unknown.into_iter().map(unknown_kind));

        if problems.is_empty() {
            Ok(ManifestSet { manifests })
        } else {
            Err(ManifestErrors { problems })
        }
    }
}

/// The kinds the set's own CustomResourceDefinitions define, with their scope; a CRD that is
/// wrong in a way that would make its kinds unusable is a problem.
fn crd_scopes(
    checked: &[(Document, Fields)],
    problems: &mut Vec<Problem>,
) -> HashMap<KindKey, bool> {
    let mut defined = HashMap::new();
    for (doc, fields) in checked {
        if fields.group() == "apiextensions.k8s.io" && fields.kind == "CustomResourceDefinition" {
            match crd_kinds(&doc.object, &fields.name) {
                Ok(kinds) => defined.extend(kinds),
                Err(message) => problems.push(Problem {
                    origin: Some(doc.origin.clone()),
                    message,
                }),
            }
        }
    }
    defined
}

/// The namespace of an object whose scope is known. A namespaced object without one gets the
/// default, written into the object too; one with its own must agree with an explicit `-n`, as
/// kubectl requires, since applying it elsewhere than the user said is the wrong-environment
/// mistake the guards exist for.
fn place(
    object: &mut Value,
    fields: &Fields,
    namespaced: bool,
    namespacing: &Namespacing<'_>,
) -> Result<Option<String>, String> {
    if !namespaced {
        return Ok(None);
    }
    match &fields.namespace {
        Some(own) if namespacing.explicit && own != namespacing.default => Err(format!(
            "metadata.namespace is {own:?} but --namespace is {:?}; drop one of them or make them agree",
            namespacing.default
        )),
        Some(own) => Ok(Some(own.clone())),
        None => {
            if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.insert(
                    "namespace".to_owned(),
                    Value::String(namespacing.default.to_owned()),
                );
            }
            Ok(Some(namespacing.default.to_owned()))
        }
    }
}

fn unknown_kind(((api_version, kind), origins): (KindKey, Vec<Origin>)) -> Problem {
    let places: Vec<String> = origins.iter().map(ToString::to_string).collect();
    Problem {
        origin: None,
        message: format!(
            "unknown kind {kind} in {api_version} (used in {}): the cluster does not serve it and no CustomResourceDefinition in the set defines it; check apiVersion and kind, or add the CRD",
            places.join(", ")
        ),
    }
}

fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| {
            ["yaml", "yml", "json"]
                .iter()
                .any(|known| ext.eq_ignore_ascii_case(known))
        })
}

/// The 1-based line that byte `offset` of `text` is on.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

fn leading_blank(text: &str) -> usize {
    text.len() - text.trim_start().len()
}

/// How many lines of `chunk` come before its first line of content (not blank, not a comment,
/// not a `---` marker), so that a document's line is where its object starts.
fn content_offset(chunk: &str) -> usize {
    chunk
        .lines()
        .position(|line| {
            let line = line.trim();
            !(line.is_empty() || line.starts_with('#') || line == "---")
        })
        .unwrap_or(0)
}

/// One `---`-separated piece of a YAML source.
struct Chunk<'a> {
    text: &'a str,
    first_line: usize,
}

/// Whether a line separates documents: `---` at the start, followed by nothing but blanks or a
/// comment, the same test kubectl's reader uses. A marker with content after it (`--- {a: 1}`)
/// stays inside the chunk and the YAML parser splits it.
fn is_separator(line: &str) -> bool {
    line.strip_prefix("---").is_some_and(|rest| {
        let rest = rest.trim();
        rest.is_empty() || rest.starts_with('#')
    })
}

/// Whether a line can come before a document's first `---` without making a document of its own:
/// blanks, comments and `%` directives.
fn is_preamble(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#') || line.starts_with('%')
}

/// Splits a YAML source at separator lines. A leading `---` after nothing but a preamble starts
/// the first document rather than ending an empty one, so that document numbers are the ones a
/// reader counts.
fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    let mut in_preamble = true;
    let mut offset = 0;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let end = offset + line.len();
        if is_separator(line) {
            if in_preamble {
                in_preamble = false;
            } else {
                chunks.push(Chunk {
                    text: &text[start..offset],
                    first_line,
                });
                start = end;
                first_line = number + 2;
            }
        } else if !is_preamble(line) {
            in_preamble = false;
        }
        offset = end;
    }
    chunks.push(Chunk {
        text: &text[start..],
        first_line,
    });
    chunks
}

/// The error of the chunk's document at `position` again, from the chunk padded with the lines
/// before it, so that the line numbers in the parser's message are the file's rather than the
/// chunk's. Done only on error, so that loading stays linear in the size of the input.
fn file_positions(chunk: &Chunk<'_>, position: usize) -> Option<String> {
    let padded = format!("{}{}", "\n".repeat(chunk.first_line - 1), chunk.text);
    serde_yaml_ng::Deserializer::from_str(&padded)
        .nth(position)
        .and_then(|doc| yaml_to_json(doc).err())
}

/// Converts one YAML document to JSON, applying `<<` merge keys as kubectl's YAML library does
/// and refusing duplicate keys (the parser reports them), which would otherwise silently keep the
/// last value.
fn yaml_to_json(doc: serde_yaml_ng::Deserializer<'_>) -> Result<Value, String> {
    let mut yaml =
        serde_yaml_ng::Value::deserialize(doc).map_err(|err| format!("invalid YAML: {err}"))?;
    yaml.apply_merge()
        .map_err(|err| format!("invalid YAML merge key (<<): {err}"))?;
    serde_json::to_value(&yaml)
        .map_err(|err| format!("this YAML cannot be a Kubernetes object: {err}; use string keys"))
}

/// The items of a `List` or `*List` object, with the list's kind and apiVersion.
fn list_items(value: &Value) -> Option<(&str, Option<&str>, &Vec<Value>)> {
    let kind = value.get("kind")?.as_str()?;
    if !kind.ends_with("List") {
        return None;
    }
    let items = value.get("items")?.as_array()?;
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    Some((kind, api_version, items))
}

/// `(apiVersion, kind)`.
type KindKey = (String, String);

/// The fields every object must have, once checked.
struct Fields {
    api_version: String,
    kind: String,
    name: String,
    namespace: Option<String>,
}

impl Fields {
    fn group(&self) -> &str {
        group_of(&self.api_version)
    }
}

/// Checks what every object needs, adding each problem to `found` (all of them, not the first).
fn check_object(object: &Value, found: &mut Vec<String>) -> Option<Fields> {
    let Some(map) = object.as_object() else {
        found.push(format!(
            "this document is {}, not a Kubernetes object (a mapping with apiVersion, kind and metadata)",
            type_name(object)
        ));
        return None;
    };
    let api_version = match map.get("apiVersion") {
        Some(Value::String(v)) if is_api_version(v) => Some(v.clone()),
        Some(Value::String(v)) => {
            found.push(format!(
                "apiVersion {v:?} is not VERSION or GROUP/VERSION (e.g. v1, apps/v1)"
            ));
            None
        }
        Some(other) => {
            found.push(format!(
                "apiVersion must be a string, not {}",
                type_name(other)
            ));
            None
        }
        None => {
            found.push("missing apiVersion; add one, e.g. `apiVersion: apps/v1`".to_owned());
            None
        }
    };
    let kind = match map.get("kind") {
        Some(Value::String(v)) if !v.is_empty() => Some(v.clone()),
        Some(Value::String(_)) | None => {
            found.push("missing kind; add one, e.g. `kind: Deployment`".to_owned());
            None
        }
        Some(other) => {
            found.push(format!("kind must be a string, not {}", type_name(other)));
            None
        }
    };
    let metadata = map.get("metadata").and_then(Value::as_object);
    if map.get("metadata").is_some_and(|m| !m.is_object()) {
        found.push("metadata must be a mapping".to_owned());
    }
    let name = match metadata.and_then(|m| m.get("name")) {
        Some(Value::String(v)) if !v.is_empty() => Some(v.clone()),
        Some(Value::String(_)) | None => {
            if metadata.is_some_and(|m| m.contains_key("generateName")) {
                found.push(
                    "metadata.generateName is not supported: apply needs a fixed metadata.name to find the object again"
                        .to_owned(),
                );
            } else {
                found.push("missing metadata.name; every object needs a name".to_owned());
            }
            None
        }
        Some(other) => {
            found.push(format!(
                "metadata.name must be a string, not {}",
                type_name(other)
            ));
            None
        }
    };
    let namespace = match metadata.and_then(|m| m.get("namespace")) {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) if v.is_empty() => None,
        Some(Value::String(v)) if is_dns_label(v) => Some(v.clone()),
        Some(Value::String(v)) => {
            found.push(format!(
                "metadata.namespace {v:?} is not a valid namespace; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
            ));
            None
        }
        Some(other) => {
            found.push(format!(
                "metadata.namespace must be a string, not {}",
                type_name(other)
            ));
            None
        }
    };
    let (api_version, kind, name) = (api_version?, kind?, name?);
    let rule = NameRule::for_kind(group_of(&api_version), &kind);
    if !rule.accepts(&name) {
        found.push(format!(
            "metadata.name {name:?} is not a valid {kind} name; {}",
            rule.describe()
        ));
        return None;
    }
    if !found.is_empty() {
        return None;
    }
    Some(Fields {
        api_version,
        kind,
        name,
        namespace,
    })
}

fn is_api_version(value: &str) -> bool {
    let mut parts = value.split('/');
    let ok = |part: Option<&str>| {
        part.is_some_and(|p| !p.is_empty() && !p.contains(char::is_whitespace))
    };
    match (parts.next(), parts.next(), parts.next()) {
        (version, None, None) => ok(version),
        (group, version, None) => ok(group) && ok(version),
        _ => false,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The kinds a CustomResourceDefinition defines, as `((apiVersion, kind), namespaced)`, or what
/// is wrong with it. Its name must be `<plural>.<group>`, which the API server would refuse
/// otherwise.
fn crd_kinds(crd: &Value, name: &str) -> Result<Vec<(KindKey, bool)>, String> {
    let spec = crd.get("spec");
    let text = |pointer: &str| {
        spec.and_then(|s| s.pointer(pointer))
            .and_then(Value::as_str)
    };
    let (Some(group), Some(kind), Some(plural)) =
        (text("/group"), text("/names/kind"), text("/names/plural"))
    else {
        return Err(
            "this CustomResourceDefinition needs spec.group, spec.names.kind and spec.names.plural"
                .to_owned(),
        );
    };
    let expected = format!("{plural}.{group}");
    if name != expected {
        return Err(format!(
            "a CustomResourceDefinition must be named <spec.names.plural>.<spec.group>: rename {name:?} to {expected:?}"
        ));
    }
    let namespaced = match text("/scope") {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        other => {
            return Err(format!(
                "spec.scope of this CustomResourceDefinition is {other:?}; use Namespaced or Cluster"
            ));
        }
    };
    // apiextensions v1 lists spec.versions; the old v1beta1 also had a single spec.version.
    let mut versions: Vec<&str> = spec
        .and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect();
    versions.extend(text("/version"));
    if versions.is_empty() {
        return Err("this CustomResourceDefinition lists no spec.versions".to_owned());
    }
    Ok(versions
        .into_iter()
        .map(|version| ((format!("{group}/{version}"), kind.to_owned()), namespaced))
        .collect())
}

#[cfg(test)]
mod tests;
