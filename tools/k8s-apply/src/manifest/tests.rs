use std::path::Path;

use super::*;
use crate::builtin::builtin_scope;
use proptest::prelude::*;
use serde_json::json;

const NS: Namespacing<'static> = Namespacing {
    default: "app",
    explicit: false,
};

fn file(name: &str) -> Source {
    Source::File(PathBuf::from(name))
}

fn parse_file(text: &str) -> Loaded {
    parse(&file("m.yaml"), text)
}

fn resolve(text: &str) -> Result<ManifestSet, ManifestErrors> {
    parse_file(text).resolve(&NS, builtin_scope)
}

fn names(set: &ManifestSet) -> Vec<&str> {
    set.iter().map(|m| m.key.name.as_str()).collect()
}

fn indices(loaded: &Loaded) -> Vec<(usize, Option<usize>, usize)> {
    loaded
        .documents()
        .iter()
        .map(|d| (d.origin.index, d.origin.item, d.origin.line))
        .collect()
}

/// Every problem's text, for assertions on what a person reads.
fn messages(errors: &ManifestErrors) -> Vec<String> {
    errors.problems().iter().map(ToString::to_string).collect()
}

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
}

#[test]
fn leading_and_trailing_separators_and_comments() {
    let text = format!(
        "# a header comment\n---\n{}---\n# only a comment\n---\n{}---\n",
        cm("a"),
        cm("b")
    );
    let loaded = parse_file(&text);
    assert!(loaded.problems().is_empty(), "{:?}", loaded.problems());
    // The leading `---` opens document 1; the comment-only document 2 still counts.
    assert_eq!(indices(&loaded), vec![(1, None, 3), (3, None, 10)]);
    assert_eq!(names(&resolve(&text).unwrap()), ["a", "b"]);
}

#[test]
fn empty_documents_in_the_middle_keep_their_number() {
    let text = format!("{}---\n---\n{}", cm("a"), cm("b"));
    assert_eq!(
        indices(&parse_file(&text)),
        vec![(1, None, 1), (3, None, 7)]
    );
}

#[test]
fn empty_and_comment_only_sources_have_no_objects() {
    for text in ["", "\n\n", "# nothing here\n", "---\n", "---\n---\n# x\n"] {
        let loaded = parse_file(text);
        assert!(loaded.documents().is_empty(), "{text:?}");
        assert!(loaded.problems().is_empty(), "{text:?}");
        assert!(loaded.resolve(&NS, builtin_scope).unwrap().is_empty());
    }
}

#[test]
fn document_end_markers() {
    let text = format!("{}...\n---\n{}...\n", cm("a"), cm("b"));
    assert_eq!(names(&resolve(&text).unwrap()), ["a", "b"]);
}

#[test]
fn crlf_line_endings() {
    let text = format!("{}---\n{}", cm("a"), cm("b")).replace('\n', "\r\n");
    let set = resolve(&text).unwrap();
    assert_eq!(names(&set), ["a", "b"]);
    assert_eq!(set.manifests()[1].origin.line, 6);
}

#[test]
fn byte_order_mark_is_ignored() {
    let text = format!("\u{feff}{}", cm("a"));
    assert_eq!(names(&resolve(&text).unwrap()), ["a"]);
}

#[test]
fn inline_document_markers() {
    let text = "--- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n--- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n";
    let loaded = parse_file(text);
    assert_eq!(
        loaded
            .documents()
            .iter()
            .map(|d| d.origin.index)
            .collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn json_object_and_json_stream() {
    let one = r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}"#;
    let set = parse(&file("one.json"), one)
        .resolve(&NS, builtin_scope)
        .unwrap();
    assert_eq!(names(&set), ["a"]);
    let stream = format!("{one}\n\n{}", one.replace("\"a\"", "\"b\""));
    let loaded = parse(&Source::Stdin, &stream);
    assert_eq!(indices(&loaded), vec![(1, None, 1), (2, None, 3)]);
}

#[test]
fn json_list_is_flattened() {
    let text = r#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}}
    ]}"#;
    let loaded = parse(&file("list.json"), text);
    assert_eq!(indices(&loaded), vec![(1, Some(1), 1), (1, Some(2), 1)]);
    let set = loaded.resolve(&NS, builtin_scope).unwrap();
    assert_eq!(set.manifests()[1].key.kind, "Secret");
}

#[test]
fn yaml_list_and_typed_list_are_flattened() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMapList\nitems:\n- metadata: {name: b}\n- metadata: {name: c}\n";
    let set = resolve(text).unwrap();
    assert_eq!(names(&set), ["a", "b", "c"]);
    let c = &set.manifests()[2];
    assert_eq!(c.key.kind, "ConfigMap");
    assert_eq!(c.key.api_version, "v1");
    assert_eq!(c.origin.to_string(), "m.yaml document 2 item 2 (line 8)");
}

#[test]
fn a_custom_kind_ending_in_list_without_items_is_an_object() {
    let text = "apiVersion: example.com/v1\nkind: AllowList\nmetadata: {name: a}\nspec: {}\n";
    let loaded = parse_file(text);
    assert_eq!(loaded.documents().len(), 1);
    assert_eq!(loaded.documents()[0].origin.item, None);
}

#[test]
fn syntax_errors_name_the_line_and_reading_goes_on() {
    let text = format!("{}---\nkind: [\n---\n{}", cm("a"), cm("b"));
    let loaded = parse_file(&text);
    let problems = loaded.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let message = problems[0].to_string();
    assert!(
        message.starts_with("m.yaml document 2 (line 6): invalid YAML"),
        "{message}"
    );
    // The parser's own position is the file's line, not the document's.
    assert!(message.contains("line 7"), "{message}");
    // Document 3 was still read.
    assert_eq!(indices(&loaded), vec![(1, None, 1), (3, None, 8)]);
}

#[test]
fn json_syntax_errors_have_line_and_column() {
    let text = "{\"apiVersion\": \"v1\",\n \"kind\": }";
    let loaded = parse(&file("bad.json"), text);
    let message = loaded.problems()[0].to_string();
    assert!(
        message.starts_with("bad.json document 1 (line 1): invalid JSON"),
        "{message}"
    );
    assert!(message.contains("line 2 column"), "{message}");
}

#[test]
fn duplicate_keys_are_refused() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n";
    let errors = resolve(text).unwrap_err();
    assert!(messages(&errors)[0].contains("duplicate entry"), "{errors}");
}

#[test]
fn merge_keys_are_applied() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: &l {app: web}\n  annotations:\n    <<: *l\n    extra: x\n";
    let set = resolve(text).unwrap();
    assert_eq!(
        set.manifests()[0].object["metadata"]["annotations"],
        json!({"app": "web", "extra": "x"})
    );
}

#[test]
fn every_missing_field_is_reported() {
    let errors = resolve("metadata: {}\nspec: {}\n").unwrap_err();
    let all = messages(&errors);
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(
        all.iter()
            .all(|m| m.starts_with("m.yaml document 1 (line 1): "))
    );
    assert!(all[0].contains("missing apiVersion"));
    assert!(all[1].contains("missing kind"));
    assert!(all[2].contains("missing metadata.name"));
}

#[test]
fn wrong_types_are_reported() {
    let errors = resolve("apiVersion: 1\nkind: [x]\nmetadata: {name: 5}\n").unwrap_err();
    let all = messages(&errors).join("\n");
    assert!(
        all.contains("apiVersion must be a string, not a number"),
        "{all}"
    );
    assert!(all.contains("kind must be a string, not a list"), "{all}");
    assert!(all.contains("metadata.name must be a string"), "{all}");
    let errors = resolve("apiVersion: a/b/c\nkind: X\nmetadata: {name: x}\n").unwrap_err();
    assert!(messages(&errors)[0].contains("is not VERSION or GROUP/VERSION"));
}

#[test]
fn documents_that_are_not_mappings() {
    let errors = resolve("- a\n- b\n---\njust text\n").unwrap_err();
    let all = messages(&errors);
    assert!(all[0].starts_with("m.yaml document 1 (line 1): this document is a list"));
    assert!(all[1].starts_with("m.yaml document 2 (line 4): this document is a string"));
}

#[test]
fn generate_name_is_refused() {
    let errors =
        resolve("apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: run-}\n").unwrap_err();
    assert!(messages(&errors)[0].contains("metadata.generateName is not supported"));
}

#[test]
fn names_follow_the_rule_of_their_kind() {
    let bad = [
        ("apps/v1", "Deployment", "Web_1"),
        ("v1", "Service", "1web"),
        ("v1", "Namespace", "a.b"),
        ("v1", "ConfigMap", "-x"),
    ];
    for (api_version, kind, name) in bad {
        let text =
            format!("apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: '{name}'}}\n");
        let errors = resolve(&text).unwrap_err();
        let message = &messages(&errors)[0];
        assert!(
            message.contains(&format!(
                "metadata.name {name:?} is not a valid {kind} name"
            )),
            "{message}"
        );
    }
    let rbac = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: 'system:web:reader'}\n";
    assert_eq!(names(&resolve(rbac).unwrap()), ["system:web:reader"]);
}

#[test]
fn bad_namespaces_are_reported() {
    let errors =
        resolve("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: My_NS}\n")
            .unwrap_err();
    assert!(messages(&errors)[0].contains("metadata.namespace \"My_NS\" is not a valid namespace"));
}

#[test]
fn default_namespace_is_applied_and_written_into_the_object() {
    let set = resolve(&cm("a")).unwrap();
    let manifest = &set.manifests()[0];
    assert_eq!(manifest.key.namespace.as_deref(), Some("app"));
    assert_eq!(manifest.object["metadata"]["namespace"], "app");
}

#[test]
fn cluster_scoped_objects_have_no_namespace() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: ignored}\n";
    let set = resolve(text).unwrap();
    assert!(set.iter().all(|m| m.key.namespace.is_none()));
    assert!(
        set.manifests()[0].object["metadata"]
            .get("namespace")
            .is_none()
    );
}

#[test]
fn duplicates_are_found_after_the_default_namespace() {
    let text = format!(
        "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a, namespace: app}}\n",
        cm("a")
    );
    let errors = resolve(&text).unwrap_err();
    assert_eq!(
        messages(&errors),
        [
            "m.yaml document 2 (line 6): ConfigMap app/a is also defined in m.yaml document 1 (line 1); each object may appear once, remove one of them"
        ]
    );
}

#[test]
fn duplicates_compare_group_not_version() {
    let deploy = |v: &str| format!("apiVersion: {v}\nkind: Deployment\nmetadata: {{name: web}}\n");
    let errors = resolve(&format!(
        "{}---\n{}",
        deploy("apps/v1"),
        deploy("apps/v1beta2")
    ))
    .unwrap_err();
    assert!(messages(&errors)[0].contains("Deployment.apps app/web is also defined"));
    // Different namespaces, kinds or groups are different objects.
    let text = format!(
        "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a, namespace: other}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: a}}\n",
        cm("a")
    );
    assert_eq!(resolve(&text).unwrap().len(), 3);
}

#[test]
fn explicit_namespace_must_agree() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: other}\n";
    let explicit = Namespacing {
        default: "app",
        explicit: true,
    };
    let errors = parse_file(text)
        .resolve(&explicit, builtin_scope)
        .unwrap_err();
    assert_eq!(
        messages(&errors),
        [
            "m.yaml document 1 (line 1): metadata.namespace is \"other\" but --namespace is \"app\"; drop one of them or make them agree"
        ]
    );
    // Without -n, an object's own namespace wins over the context's default.
    let set = resolve(text).unwrap();
    assert_eq!(set.manifests()[0].key.namespace.as_deref(), Some("other"));
}

#[test]
fn the_default_namespace_must_be_valid() {
    let bad = Namespacing {
        default: "Prod_1",
        explicit: true,
    };
    let errors = parse_file(&cm("a"))
        .resolve(&bad, builtin_scope)
        .unwrap_err();
    assert!(messages(&errors)[0].starts_with("namespace \"Prod_1\" (from --namespace"));
}

#[test]
fn unknown_kinds_are_listed_once_each_with_every_place() {
    let widget = |name: &str| {
        format!("apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: {name}}}\n")
    };
    let text = format!("{}---\n{}---\n{}", widget("a"), cm("c"), widget("b"));
    let errors = resolve(&text).unwrap_err();
    assert_eq!(
        messages(&errors),
        [
            "unknown kind Widget in example.com/v1 (used in m.yaml document 1 (line 1), m.yaml document 3 (line 10)): the cluster does not serve it and no CustomResourceDefinition in the set defines it; check apiVersion and kind, or add the CRD"
        ]
    );
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {kind: Widget, plural: widgets}
  versions:
  - {name: v1, served: true, storage: true}
  - {name: v2, served: true, storage: false}
";

#[test]
fn crds_in_the_set_make_their_kinds_known() {
    let text = format!(
        "apiVersion: example.com/v2\nkind: Widget\nmetadata: {{name: w}}\n---\n{WIDGET_CRD}"
    );
    let set = resolve(&text).unwrap();
    assert_eq!(
        set.manifests()[0].key.namespace,
        None,
        "the CRD says Cluster"
    );
    // A version the CRD does not list stays unknown.
    let errors = resolve(&text.replace("example.com/v2", "example.com/v3")).unwrap_err();
    assert!(messages(&errors)[0].starts_with("unknown kind Widget in example.com/v3"));
}

#[test]
fn crds_in_the_set_are_checked() {
    let errors =
        resolve(&WIDGET_CRD.replace("widgets.example.com", "widget.example.com")).unwrap_err();
    assert!(
        messages(&errors)[0].contains("rename \"widget.example.com\" to \"widgets.example.com\"")
    );
    let errors = resolve(&WIDGET_CRD.replace("scope: Cluster", "scope: Global")).unwrap_err();
    assert!(messages(&errors)[0].contains("use Namespaced or Cluster"));
}

#[test]
fn kinds_lists_what_discovery_must_answer() {
    let text = format!("{}---\n{}---\n{WIDGET_CRD}", cm("a"), cm("b"));
    assert_eq!(
        parse_file(&text).kinds(),
        [
            (
                "apiextensions.k8s.io/v1".to_owned(),
                "CustomResourceDefinition".to_owned()
            ),
            ("v1".to_owned(), "ConfigMap".to_owned())
        ]
    );
}

#[test]
fn all_problems_become_one_invalid_input_error() {
    let mut loaded = parse(&file("a.yaml"), "kind: [\n");
    loaded.extend(parse(&file("b.yaml"), "apiVersion: v1\nkind: ConfigMap\n"));
    let errors = loaded.resolve(&NS, builtin_scope).unwrap_err();
    let error = StageError::from(errors);
    assert_eq!(error.kind(), stage::ErrorKind::InvalidInput);
    assert_eq!(error.exit_code(), 2);
    let message = error.message();
    assert!(
        message.starts_with("2 problems in the manifests; nothing was applied"),
        "{message}"
    );
    assert!(
        message.contains("\n  - a.yaml document 1 (line 1): invalid YAML"),
        "{message}"
    );
    assert!(
        message.contains("\n  - b.yaml document 1 (line 1): missing metadata.name"),
        "{message}"
    );
    assert!(error.hint().is_some());
}

mod files {
    use super::*;
    use std::fs;

    fn write(dir: &Path, name: &str, text: &str) {
        fs::write(dir.join(name), text).unwrap();
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.yaml", &cm("b"));
        write(dir.path(), "a.yml", &cm("a"));
        write(
            dir.path(),
            "c.json",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#,
        );
        write(dir.path(), "README.md", "not a manifest");
        write(dir.path(), "kustomization.txt", "kind: nope");
        fs::create_dir(dir.path().join("sub")).unwrap();
        write(&dir.path().join("sub"), "d.yaml", &cm("d"));
        dir
    }

    fn load_names(inputs: &[Input], recursive: bool) -> Vec<String> {
        let loaded = load(inputs, recursive, &mut std::io::empty());
        assert!(loaded.problems().is_empty(), "{:?}", loaded.problems());
        let set = loaded.resolve(&NS, builtin_scope).unwrap();
        set.iter().map(|m| m.key.name.clone()).collect()
    }

    #[test]
    fn directories_are_read_sorted_and_not_recursively() {
        let dir = tree();
        let input = Input::Path(dir.path().to_owned());
        assert_eq!(
            load_names(std::slice::from_ref(&input), false),
            ["a", "b", "c"]
        );
        assert_eq!(load_names(&[input], true), ["a", "b", "c", "d"]);
    }

    #[test]
    fn a_named_file_is_read_whatever_its_extension() {
        let dir = tree();
        write(dir.path(), "extra.txt", &cm("x"));
        let inputs = [
            Input::Path(dir.path().join("extra.txt")),
            Input::Path(dir.path().join("a.yml")),
        ];
        assert_eq!(load_names(&inputs, false), ["x", "a"]);
    }

    #[test]
    fn origins_name_the_file() {
        let dir = tree();
        let path = dir.path().join("b.yaml");
        let loaded = load(&[Input::Path(path.clone())], false, &mut std::io::empty());
        assert_eq!(loaded.documents()[0].origin.source, Source::File(path));
    }

    #[test]
    fn missing_paths_and_bad_bytes_are_problems() {
        let dir = tree();
        fs::write(dir.path().join("latin1.yaml"), b"name: caf\xe9\n").unwrap();
        let inputs = [
            Input::Path(dir.path().join("nope.yaml")),
            Input::Path(dir.path().join("latin1.yaml")),
            Input::Path(dir.path().join("a.yml")),
        ];
        let loaded = load(&inputs, false, &mut std::io::empty());
        let problems: Vec<String> = loaded.problems().iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].ends_with("nope.yaml: does not exist; check the -f path"));
        assert!(problems[1].contains("latin1.yaml: not UTF-8 text (invalid byte at offset 9)"));
        assert_eq!(loaded.documents().len(), 1, "the good file is still read");
    }

    #[test]
    fn stdin_is_read_once() {
        let stdin = cm("s").into_bytes();
        let loaded = load(
            &[Input::from_arg("-"), Input::from_arg("-")],
            false,
            &mut stdin.as_slice(),
        );
        assert_eq!(loaded.documents()[0].origin.source, Source::Stdin);
        assert_eq!(
            loaded.documents()[0].origin.to_string(),
            "<stdin> document 1 (line 1)"
        );
        assert!(loaded.problems()[0].message.contains("more than once"));
    }
}

/// A small generated object: (kind index, name, namespace or none).
fn objects() -> impl Strategy<Value = Vec<(usize, String, Option<String>)>> {
    let one = (
        0..KINDS.len(),
        "[a-z][a-z0-9-]{0,10}[a-z0-9]",
        proptest::option::of("[a-z]{1,8}"),
    );
    proptest::collection::vec(one, 0..12)
}

const KINDS: &[(&str, &str)] = &[
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("apps/v1", "Deployment"),
    ("v1", "Namespace"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
];

proptest! {
    #[test]
    fn rendered_sets_load_back_with_the_same_keys(
        objects in objects(),
        json_format in any::<bool>(),
        crlf in any::<bool>(),
        leading in any::<bool>(),
    ) {
        let mut expected = Vec::new();
        let mut documents = Vec::new();
        for (kind, name, namespace) in objects {
            let (api_version, kind) = KINDS[kind];
            let namespaced = builtin_scope(api_version, kind).unwrap();
            let mut metadata = json!({"name": name});
            if let Some(namespace) = &namespace {
                metadata["namespace"] = json!(namespace);
            }
            let key = ObjectRef {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                namespace: namespaced.then(|| namespace.unwrap_or_else(|| "app".to_owned())),
                name,
            };
            // Generated keys may collide; keep the first, as the set must hold each object once.
            if expected.iter().any(|k: &ObjectRef| k.group() == key.group() && k.kind == key.kind && k.namespace == key.namespace && k.name == key.name) {
                continue;
            }
            expected.push(key);
            documents.push(json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "data": {"k": "v: 1 # not a comment"}}));
        }
        let mut text = if json_format {
            documents.iter().map(|d| serde_json::to_string_pretty(d).unwrap()).collect::<Vec<_>>().join("\n")
        } else {
            let docs: Vec<String> = documents.iter().map(|d| serde_yaml_ng::to_string(d).unwrap()).collect();
            let body = docs.join("---\n");
            if leading { format!("# generated\n---\n{body}---\n") } else { body }
        };
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        let set = parse(&Source::Stdin, &text).resolve(&NS, builtin_scope);
        let set = set.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let keys: Vec<ObjectRef> = set.iter().map(|m| m.key.clone()).collect();
        prop_assert_eq!(keys, expected);
        let indices: Vec<usize> = set.iter().map(|m| m.origin.index).collect();
        prop_assert_eq!(indices, (1..=documents.len()).collect::<Vec<_>>());
    }
}

#[test]
fn a_document_over_the_size_limit_is_refused_unparsed() {
    let big = format!(
        "{}data:\n  a: {}\n",
        cm("big"),
        "x".repeat(MAX_DOCUMENT_BYTES)
    );
    let loaded = parse_file(&format!("{}---\n{big}", cm("small")));
    let errors = loaded.check_limits().expect_err("over the limit");
    let messages = messages(&errors);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with("m.yaml document 2 (line 6): this document is more than 3 MiB"),
        "{messages:?}"
    );
    // Within the limits, nothing is refused early.
    assert!(parse_file(&cm("small")).check_limits().is_ok());
}
