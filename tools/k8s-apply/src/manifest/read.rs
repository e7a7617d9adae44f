//! Reading `-f` inputs: files, directories (sorted, `-R` recursive, symbolic-link loops
//! reported) and stdin, each read bounded by the input limits.

use std::io::Read;
use std::path::Path;

use super::{Loaded, MAX_SOURCE_BYTES, MAX_TOTAL_BYTES, Source};

impl Loaded {
    /// Reads a path given with `-f` (`top`) or found in a directory. `walking` holds the
    /// directories the walk is inside (by device and inode), to notice a symbolic link back into
    /// one of them.
    pub(super) fn add_path(
        &mut self,
        path: &Path,
        recursive: bool,
        top: bool,
        walking: &mut Vec<(u64, u64)>,
    ) {
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
    pub(super) fn read_bounded(
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
    pub(super) fn too_big(&mut self, source: &Source, len: u64) {
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

    pub(super) fn add_dir(
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

    pub(super) fn add_dir_entries(
        &mut self,
        dir: &Path,
        recursive: bool,
        walking: &mut Vec<(u64, u64)>,
    ) {
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

    pub(super) fn add_bytes(&mut self, source: &Source, bytes: &[u8], is_json: bool) {
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

    pub(super) fn add_text(&mut self, source: &Source, text: &str, is_json: bool) {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // kubectl sniffs the same way: JSON if the first non-blank character opens an object.
        if is_json || text.trim_start().starts_with('{') {
            self.add_json(source, text);
        } else {
            self.add_yaml(source, text);
        }
    }
}

pub(super) fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| {
            ["yaml", "yml", "json"]
                .iter()
                .any(|known| ext.eq_ignore_ascii_case(known))
        })
}
