use super::*;
use crate::builtin::builtin_scope;
use crate::manifest::{Namespacing, Source, parse};
use proptest::prelude::*;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn set(text: &str) -> ManifestSet {
    let namespacing = Namespacing {
        default: "app",
        explicit: false,
    };
    // Widget stands for any custom resource the cluster serves.
    let scope = |api_version: &str, kind: &str| {
        builtin_scope(api_version, kind).or((kind == "Widget").then_some(true))
    };
    parse(&Source::Stdin, text)
        .resolve(&namespacing, scope)
        .unwrap()
}

/// A set with a container in each kind of pod template, plus a custom resource whose `image`
/// field must not be touched.
fn sample() -> ManifestSet {
    set(r"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers: [{name: migrate, image: registry.example/api:1.0}]
      containers:
      - {name: api, image: registry.example/api:1.0}
      - {name: proxy, image: nginx:1.25}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: report, image: 'localhost:5000/tools/report:1.0'}]
---
apiVersion: v1
kind: Pod
metadata: {name: debug}
spec:
  containers: [{name: shell, image: docker.io/library/busybox}]
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: app}
spec: {containers: [{name: api, image: other:1}]}
")
}

fn image_of(set: &ManifestSet, container: &str) -> String {
    images(set)
        .into_iter()
        .find(|i| i.container == container)
        .map(|i| i.image)
        .unwrap()
}

#[test]
fn references_parse_into_their_parts() {
    let cases = [
        ("nginx", None, "nginx", None, None),
        ("nginx:1.27", None, "nginx", Some("1.27"), None),
        ("myteam/app:v2", None, "myteam/app", Some("v2"), None),
        (
            "localhost:5000/app:1",
            Some("localhost:5000"),
            "app",
            Some("1"),
            None,
        ),
        ("localhost/app", Some("localhost"), "app", None, None),
        (
            "registry.example/a/b/c:x_y-z.1",
            Some("registry.example"),
            "a/b/c",
            Some("x_y-z.1"),
            None,
        ),
        (
            "[::1]:5000/app:1",
            Some("[::1]:5000"),
            "app",
            Some("1"),
            None,
        ),
    ];
    for (reference, domain, path, tag, digest) in cases {
        let parsed = ImageRef::parse(reference).unwrap();
        assert_eq!(parsed.domain.as_deref(), domain, "{reference}");
        assert_eq!(parsed.path, path, "{reference}");
        assert_eq!(parsed.tag.as_deref(), tag, "{reference}");
        assert_eq!(parsed.digest.as_deref(), digest, "{reference}");
        assert_eq!(parsed.to_string(), reference);
    }
}

#[test]
fn digests_with_and_without_tags() {
    let pinned = ImageRef::parse(&format!("registry.example:443/api:2.0@{DIGEST}")).unwrap();
    assert_eq!(pinned.domain.as_deref(), Some("registry.example:443"));
    assert_eq!(pinned.tag.as_deref(), Some("2.0"));
    assert_eq!(pinned.digest.as_deref(), Some(DIGEST));
    let bare = ImageRef::parse(&format!("api@{DIGEST}")).unwrap();
    assert_eq!((bare.tag, bare.digest.as_deref()), (None, Some(DIGEST)));
}

#[test]
fn bad_references_are_refused() {
    for bad in [
        "",
        "app/UPPER",
        "app:",
        "app:-x",
        "app@sha256:abc",
        "app@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "a//b",
        "app_:1",
        "host:99999999/app",
        "a b",
    ] {
        assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn docker_hub_spellings_share_a_canonical_repository() {
    let canonical = |r: &str| ImageRef::parse(r).unwrap().canonical_repository();
    assert_eq!(canonical("nginx"), "docker.io/library/nginx");
    assert_eq!(canonical("library/nginx:1"), "docker.io/library/nginx");
    assert_eq!(canonical("docker.io/nginx"), "docker.io/library/nginx");
    assert_eq!(
        canonical("index.docker.io/library/nginx"),
        "docker.io/library/nginx"
    );
    assert_eq!(canonical("myteam/app"), "docker.io/myteam/app");
    assert_eq!(canonical("localhost:5000/app"), "localhost:5000/app");
}

#[test]
fn images_lists_every_pod_template_container() {
    let listed: Vec<(String, Option<String>, String, String, String)> = images(&sample())
        .into_iter()
        .map(|i| (i.kind, i.namespace, i.name, i.container, i.image))
        .collect();
    let row = |kind: &str, name: &str, container: &str, image: &str| {
        (
            kind.to_owned(),
            Some("app".to_owned()),
            name.to_owned(),
            container.to_owned(),
            image.to_owned(),
        )
    };
    assert_eq!(
        listed,
        [
            row("Deployment", "web", "migrate", "registry.example/api:1.0"),
            row("Deployment", "web", "api", "registry.example/api:1.0"),
            row("Deployment", "web", "proxy", "nginx:1.25"),
            row(
                "CronJob",
                "nightly",
                "report",
                "localhost:5000/tools/report:1.0"
            ),
            row("Pod", "debug", "shell", "docker.io/library/busybox"),
        ]
    );
}

#[test]
fn set_image_by_repository_covers_init_containers() {
    let mut set = sample();
    let rule: SetImage = "registry.example/api=registry.example/api:2.0"
        .parse()
        .unwrap();
    let changes = set_images(&mut set, &[rule]).unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(
        changes[0].to_string(),
        "Deployment.apps app/web container migrate: registry.example/api:1.0 → registry.example/api:2.0"
    );
    assert_eq!(image_of(&set, "migrate"), "registry.example/api:2.0");
    assert_eq!(image_of(&set, "api"), "registry.example/api:2.0");
    assert_eq!(image_of(&set, "proxy"), "nginx:1.25");
}

#[test]
fn set_image_by_container_name_and_short_repository() {
    let mut set = sample();
    let rules: Vec<SetImage> = [
        "report=localhost:5000/tools/report:2.0",
        &format!("busybox=busybox:1.36@{DIGEST}"),
        "nginx=nginx:1.27",
    ]
    .iter()
    .map(|r| r.parse().unwrap())
    .collect();
    set_images(&mut set, &rules).unwrap();
    assert_eq!(image_of(&set, "report"), "localhost:5000/tools/report:2.0");
    assert_eq!(image_of(&set, "shell"), format!("busybox:1.36@{DIGEST}"));
    assert_eq!(image_of(&set, "proxy"), "nginx:1.27");
    // The custom resource's lookalike field was left alone.
    let widget = &set.manifests()[3].object;
    assert_eq!(widget["spec"]["containers"][0]["image"], "other:1");
}

#[test]
fn unmatched_set_image_names_it_and_changes_nothing() {
    let mut set = sample();
    let before = set.clone();
    let rules: Vec<SetImage> = ["nginx=nginx:1.27", "worker=worker:2", "other=other:2"]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
    let error = set_images(&mut set, &rules).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    let message = error.message();
    assert!(
        message.contains("--set-image worker=worker:2: no container is named \"worker\""),
        "{message}"
    );
    // A custom resource's images are not ours to rewrite, so this does not match either.
    assert!(message.contains("--set-image other=other:2"), "{message}");
    assert!(!message.contains("nginx=nginx"), "{message}");
    assert!(error.hint().unwrap().contains("registry.example/api"));
    assert_eq!(set, before);
}

#[test]
fn two_rules_for_one_container_are_refused() {
    let mut set = sample();
    let rules: Vec<SetImage> = [
        "api=registry.example/api:3",
        "registry.example/api=registry.example/api:2",
    ]
    .iter()
    .map(|r| r.parse().unwrap())
    .collect();
    let error = set_images(&mut set, &rules).unwrap_err();
    assert!(error.message().contains("Deployment.apps app/web container api (registry.example/api:1.0) is matched by --set-image api=… and --set-image registry.example/api=…"), "{}", error.message());
}

#[test]
fn set_image_arguments_are_checked() {
    for (arg, why) in [
        ("nginx", "expected NAME=IMAGE"),
        ("=nginx:1", "NAME before '=' is empty"),
        ("nginx=Nginx:1", "not an image reference"),
        (
            "nginx:1.0=nginx:2",
            "NAME must be a container name or an image repository",
        ),
    ] {
        let error = arg.parse::<SetImage>().unwrap_err().to_string();
        assert!(error.contains(why), "{arg}: {error}");
    }
}

#[test]
fn expect_tag_passes_when_every_image_is_at_the_tag() {
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - {{name: a, image: 'localhost:5000/a:1.4'}}\n  - {{name: b, image: 'b:1.4@{DIGEST}'}}\n"
    );
    check_tags(&set(&text), "1.4", &[]).unwrap();
}

#[test]
fn expect_tag_lists_every_offender() {
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - {{name: ok, image: 'a:1.4'}}\n  - {{name: untagged, image: 'localhost:5000/b'}}\n  - {{name: latest, image: 'c:latest'}}\n  - {{name: other, image: 'd:1.3'}}\n  - {{name: digest, image: 'e@{DIGEST}'}}\n  - {{name: broken, image: 'F:1.4'}}\n"
    );
    let error = check_tags(&set(&text), "1.4", &[]).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    let lines: Vec<&str> = error.message().lines().collect();
    assert_eq!(lines[0], "--expect-tag 1.4: 5 images are not at that tag:");
    assert_eq!(
        &lines[1..],
        [
            "  - Pod app/p container untagged → localhost:5000/b (untagged (means latest))",
            "  - Pod app/p container latest → c:latest (tagged latest)",
            "  - Pod app/p container other → d:1.3 (tagged 1.3)",
            &format!("  - Pod app/p container digest → e@{DIGEST} (pinned by digest only, no tag)"),
            "  - Pod app/p container broken → F:1.4 (\"F:1.4\" is not an image reference: each part of the repository path must be lowercase letters and digits, separated by '.', '_', '__' or '-')",
        ]
    );
}

#[test]
fn expected_tag_is_checked() {
    assert_eq!(parse_expected_tag("v1.4.2").unwrap(), "v1.4.2");
    assert!(
        parse_expected_tag("latest")
            .unwrap_err()
            .to_string()
            .contains("names no particular release")
    );
    assert!(parse_expected_tag(".x").is_err());
    assert!(parse_expected_tag("").is_err());
}

proptest! {
    #[test]
    fn references_round_trip(
        domain in proptest::option::of(("[a-z]{1,8}\\.[a-z]{2,3}", proptest::option::of(1u16..))),
        // No '.' in path parts: a first part with one would rightly be read as a registry.
        path in proptest::collection::vec("[a-z0-9]{1,6}(__|_|-{1,2})?[a-z0-9]{1,4}", 1..4),
        tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        digest in proptest::option::of("[0-9a-f]{64}"),
    ) {
        let mut reference = String::new();
        let domain = domain.map(|(host, port)| port.map_or(host.clone(), |p| format!("{host}:{p}")));
        if let Some(domain) = &domain {
            reference.push_str(domain);
            reference.push('/');
        }
        let path = path.join("/");
        reference.push_str(&path);
        if let Some(tag) = &tag {
            reference.push(':');
            reference.push_str(tag);
        }
        let digest = digest.map(|hex| format!("sha256:{hex}"));
        if let Some(digest) = &digest {
            reference.push('@');
            reference.push_str(digest);
        }
        let parsed = ImageRef::parse(&reference).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.domain, domain);
        prop_assert_eq!(parsed.path, path);
        prop_assert_eq!(parsed.tag, tag);
        prop_assert_eq!(parsed.digest, digest);
    }
}

#[test]
fn expect_tag_for_checks_only_the_named_repositories() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: web, image: 'docker.io/team/web:abc'}\n  - {name: api, image: 'team/api:abc'}\n  - {name: db, image: 'postgres:17.6'}\n  - {name: tools, image: 'docker.io/team-tools/x:1'}\n";
    // The app's images (both spellings of Docker Hub) are at the tag; postgres and the
    // look-alike namespace are out of scope.
    check_tags(&set(text), "abc", &["docker.io/team/".to_owned()]).unwrap();
    check_tags(&set(text), "abc", &["team".to_owned()]).unwrap();
    let error = check_tags(&set(text), "def", &["docker.io/team".to_owned()]).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    assert!(
        error
            .message()
            .starts_with("--expect-tag def: 2 images are not at that tag:"),
        "{}",
        error.message()
    );
    assert!(!error.message().contains("postgres") && !error.message().contains("team-tools"));
    // Unscoped, every image counts.
    let error = check_tags(&set(text), "abc", &[]).unwrap_err();
    assert!(
        error
            .message()
            .starts_with("--expect-tag abc: 2 images are not at that tag:"),
        "{}",
        error.message()
    );
}

#[test]
fn expect_tag_for_a_repository_the_set_does_not_use_is_an_error() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: db, image: 'postgres:17.6'}\n";
    let error = check_tags(&set(text), "abc", &["docker.io/team/".to_owned()]).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    assert!(
        error.message().contains("checks nothing"),
        "{}",
        error.message()
    );
}
