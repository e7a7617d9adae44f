//! Input made to hurt the reader (issue 12, items 10 and 11): a YAML alias bomb, from a file and
//! from standard input, must end in exit 2 naming the file and line, within a bounded peak memory
//! of the real binary; a `-R` walk must not follow a symbolic link back into itself.
//!
//! The binary runs under `prlimit --as` (so that a regression is stopped by the kernel rather
//! than the machine's OOM killer) and GNU time (`/usr/bin/time -f %M`, the child's peak RSS as
//! wait4 reports it).

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use kube_sim::{Config, KubeSim};

/// Peak RSS the bomb may cost the reader. The debug binary idles at about 15 MB.
const MAX_RSS_KB: u64 = 100 * 1024;
/// The address space the binary gets: a regression runs into this, not into the machine's memory.
const ADDRESS_SPACE: &str = "3000000000";

/// An alias bomb in a ConfigMap: `a` lists 5,000 scalars, `b` repeats `a` 5,000 times (25
/// million nodes), `c` repeats `b` ten times (250 million): about 35 KB of text. The classic
/// ten-by-ten nesting is stopped by `serde_yaml_ng`'s count of alias jumps; this shape makes few
/// jumps that each replay many nodes, which it lets through.
fn bomb() -> (String, usize) {
    let a = vec!["x"; 5_000].join(", ");
    let b = vec!["*a"; 5_000].join(", ");
    let c = ["*b"; 10].join(", ");
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: laughs\ndata:\n  a: &a [{a}]\n  b: &b [{b}]\n  c: [{c}]\n"
    );
    (text, 6) // the line of `a`, where the replay reaches the limit
}

struct Measured {
    run: common::Run,
    max_rss_kb: u64,
}

/// Runs k8s-apply with `args` (and `stdin`) under the address-space limit, measuring its peak RSS.
fn measured(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Measured {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "GNU time (/usr/bin/time, Debian package `time`) is needed to measure the child's peak RSS"
    );
    let scratch = tempfile::tempdir().unwrap();
    let rss_file = scratch.path().join("rss");
    let mut cmd = Command::new(time);
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg("prlimit")
        .arg(format!("--as={ADDRESS_SPACE}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_k8s-apply"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", scratch.path())
        .env("KUBECONFIG", kubeconfig)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("time, prlimit and k8s-apply start");
    if let Some(text) = stdin {
        // The reader may stop reading early; a broken pipe is its right.
        let _ = child.stdin.take().unwrap().write_all(text.as_bytes());
    }
    let output = child.wait_with_output().unwrap();
    let rss = std::fs::read_to_string(&rss_file).unwrap_or_default();
    // GNU time writes "Command exited with non-zero status N" before the figure.
    let max_rss_kb = rss
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RSS figure from time: {rss:?}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.trim().is_empty(),
        "k8s-apply printed no document (killed? peak RSS {max_rss_kb} KB, status {:?}); stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Measured {
        run: common::Run::from_output(&output),
        max_rss_kb,
    }
}

#[track_caller]
fn assert_bomb_refused(measured: &Measured, source: &str, anchor_line: usize) {
    let run = &measured.run;
    run.assert_code(2);
    let message = run.doc["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("{source} document 1 (line 1)")),
        "the file and document are named: {message}"
    );
    assert!(
        message.contains(&format!("reached at line {anchor_line}")) && message.contains("aliases"),
        "the line and the reason are named: {message}"
    );
    assert!(
        run.stderr.contains(source),
        "stderr names the source: {}",
        run.stderr
    );
    assert!(
        measured.max_rss_kb < MAX_RSS_KB,
        "peak RSS {} KB, more than {MAX_RSS_KB} KB",
        measured.max_rss_kb
    );
    eprintln!("{source}: peak RSS {} KB", measured.max_rss_kb);
}

#[test]
fn an_alias_bomb_in_a_file_is_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (text, anchor_line) = bomb();
    let path = common::write(dir.path(), "laughs.yaml", &text);
    // Refused while reading, before any connection: the kubeconfig need not exist.
    let measured = measured(&dir.path().join("no-kubeconfig"), &["-f", &path], None);
    assert_bomb_refused(&measured, &path, anchor_line);
}

#[test]
fn an_alias_bomb_on_stdin_is_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (text, anchor_line) = bomb();
    let measured = measured(&dir.path().join("no-kubeconfig"), &["-f", "-"], Some(&text));
    assert_bomb_refused(&measured, "<stdin>", anchor_line);
}

#[test]
fn an_endless_source_is_cut_at_the_byte_limit() {
    let dir = tempfile::tempdir().unwrap();
    // /dev/zero never ends; the reader must stop at its limit rather than fill memory.
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.yaml")).unwrap();
    let path = dir.path().join("zero.yaml");
    let measured = measured(
        &dir.path().join("no-kubeconfig"),
        &["-f", path.to_str().unwrap()],
        None,
    );
    measured.run.assert_code(2);
    let message = measured.run.doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("zero.yaml") && message.contains("more than 16 MiB"),
        "{message}"
    );
    // The 16 MiB read, and no more.
    assert!(
        measured.max_rss_kb < MAX_RSS_KB,
        "peak RSS {} KB",
        measured.max_rss_kb
    );
}

#[tokio::test]
async fn recursive_reading_reports_a_directory_symlink_loop() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("manifests");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    common::write(
        &root,
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\ndata: {k: v}\n",
    );
    let link = root.join("sub").join("up");
    std::os::unix::fs::symlink("..", &link).unwrap();

    let kubeconfig = sim.kubeconfig_path().to_owned();
    let arg = root.to_str().unwrap().to_owned();
    let run =
        tokio::task::spawn_blocking(move || common::k8s_apply(&kubeconfig, &["-f", &arg, "-R"]))
            .await
            .unwrap();
    run.assert_code(2);
    let message = run.doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{}: a symbolic link to ..", link.display()))
            && message.contains("would loop"),
        "the link and the loop are named: {message}"
    );
    // Said once, and the set itself is not read twice (no duplicate-object problems).
    assert_eq!(message.matches("would loop").count(), 1, "{message}");
    assert!(!message.contains("also defined"), "{message}");
    // Nothing was applied.
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(sim.client().await.unwrap(), "default");
    assert!(api.get_opt("a").await.unwrap().is_none());
}
