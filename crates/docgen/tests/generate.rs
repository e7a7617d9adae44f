//! docgen writes a man page and bash, zsh and fish completions for every tool, and every tool's
//! `--version` names the commit of this checkout.

use std::path::Path;
use std::process::Command;

const TOOLS: [&str; 5] = [
    "oidc-creds",
    "eks-token",
    "k8s-apply",
    "rollout-wait",
    "kube-sim",
];

/// The commit the build should have recorded: the override when the build had one, else HEAD.
fn expected_commit() -> String {
    if let Ok(commit) = std::env::var("PIPEWRIGHT_BUILD_COMMIT")
        && !commit.trim().is_empty()
    {
        return commit.trim().chars().take(7).collect();
    }
    let out = Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=7",
            "HEAD",
        ])
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git rev-parse failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn every_tool_version_names_the_checkout_commit() {
    let commit = expected_commit();
    let date = Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "show",
            "-s",
            "--format=%cs",
            "HEAD",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut seen = Vec::new();
    for cmd in docgen::commands() {
        let name = cmd.get_name().to_owned();
        let version = cmd.render_version();
        let want = format!("{name} {} ({commit}", env!("CARGO_PKG_VERSION"));
        assert!(
            version.starts_with(&want),
            "{name}: {version:?} should start with {want:?}"
        );
        if std::env::var_os("PIPEWRIGHT_BUILD_COMMIT").is_none() {
            assert!(
                version.contains(&date),
                "{name}: {version:?} should name the date {date}"
            );
        }
        seen.push(name);
    }
    assert_eq!(seen, TOOLS);
}

#[test]
fn writes_a_man_page_and_completions_for_every_tool() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_docgen"))
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());

    for tool in TOOLS {
        let page = read(&out.path().join("man").join(format!("{tool}.1")));
        assert!(
            page.starts_with(".ie") || page.contains(".TH"),
            "{tool}.1 is not a man page"
        );
        assert!(
            page.contains(&format!(".TH {tool}")),
            "{tool}.1 has no title line"
        );
        assert!(
            page.contains("\\-\\-version"),
            "{tool}.1 lists no --version"
        );

        let bash = out.path().join("completions/bash").join(tool);
        assert!(read(&bash).contains(&format!("complete -F _{}", tool.replace('-', "__"))));
        let syntax = Command::new("bash").arg("-n").arg(&bash).status().unwrap();
        assert!(syntax.success(), "{tool}'s bash completion does not parse");
        assert!(
            read(&out.path().join(format!("completions/zsh/_{tool}")))
                .starts_with(&format!("#compdef {tool}"))
        );
        assert!(
            read(&out.path().join(format!("completions/fish/{tool}.fish")))
                .contains(&format!("complete -c {tool}"))
        );
    }
    // Subcommands get their own pages, as `man k8s-apply-rollback` expects.
    for page in [
        "k8s-apply-rollback.1",
        "eks-token-kubeconfig.1",
        "kube-sim-serve.1",
    ] {
        assert!(
            read(&out.path().join("man").join(page)).contains(".TH"),
            "{page} missing"
        );
    }
    // The rollback page carries its own flags, not the parent's only.
    assert!(read(&out.path().join("man/k8s-apply-rollback.1")).contains("\\-\\-release"));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
