//! `k8s-apply --version` names the commit the binary was built from (crates/build-info), through
//! the stage runner's help/version path: plain text on stdout, exit 0.

use std::process::Command;

#[test]
fn version_names_the_checkout_commit() {
    let expected = match std::env::var("PIPEWRIGHT_BUILD_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => commit.trim().chars().take(7).collect(),
        _ => {
            let out = Command::new("git")
                .args([
                    "-C",
                    env!("CARGO_MANIFEST_DIR"),
                    "rev-parse",
                    "--short=7",
                    "HEAD",
                ])
                .output()
                .unwrap();
            assert!(out.status.success(), "git rev-parse failed: {out:?}");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
    };
    let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_k8s-apply"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = format!("k8s-apply {} ({expected}", env!("CARGO_PKG_VERSION"));
    assert!(
        stdout.starts_with(&want),
        "{stdout:?} should start with {want:?}"
    );
}
