//! Man pages and shell completions for every pipewright binary, generated from the same clap
//! definitions the binaries parse with, so the documentation cannot drift from the flags.
//!
//! `docgen --out DIR` writes `DIR/man/<tool>.1` (and one page per subcommand, e.g.
//! `k8s-apply-diff.1`) and `DIR/completions/{bash,zsh,fish}/…` in the names each shell looks for.
//! The release workflow attaches both trees to the GitHub release.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

/// Every binary we ship, as clap sees it.
pub fn commands() -> Vec<clap::Command> {
    vec![
        oidc_creds::Cli::command(),
        eks_token::Cli::command(),
        k8s_apply::Cli::command(),
        rollout_wait::Cli::command(),
        kube_sim::cli::Cli::command(),
    ]
}

/// The shells we write completions for, and the file name each one loads for a command.
pub const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "bash"),
    (Shell::Zsh, "zsh"),
    (Shell::Fish, "fish"),
];

/// The file a shell's completion loader looks for: `k8s-apply` (bash), `_k8s-apply` (zsh),
/// `k8s-apply.fish` (fish).
pub fn completion_file_name(shell: Shell, bin: &str) -> String {
    match shell {
        Shell::Zsh => format!("_{bin}"),
        Shell::Fish => format!("{bin}.fish"),
        _ => bin.to_owned(),
    }
}

/// Writes every page and completion under `out`; returns the files written, in order.
pub fn write_all(out: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let man_dir = out.join("man");
    fs::create_dir_all(&man_dir)?;
    for cmd in commands() {
        let mut cmd = cmd.disable_help_subcommand(true);
        cmd.build();
        write_pages(&cmd, &man_dir, &mut written)?;
    }
    for (shell, dir_name) in SHELLS {
        let dir = out.join("completions").join(dir_name);
        fs::create_dir_all(&dir)?;
        for mut cmd in commands() {
            let bin = cmd.get_name().to_owned();
            let path = dir.join(completion_file_name(shell, &bin));
            let mut file = io::BufWriter::new(fs::File::create(&path)?);
            clap_complete::generate(shell, &mut cmd, &bin, &mut file);
            io::Write::flush(&mut file)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// One page for the command and one for each visible subcommand, as `man k8s-apply-diff` expects.
fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> io::Result<()> {
    let page = clap_mangen::Man::new(cmd.clone())
        .manual("pipewright")
        .source(format!("pipewright {}", build_info::VERSION))
        .date(build_info::COMMIT_DATE);
    written.push(page.generate_to(dir)?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}
