//! `docgen --out DIR`: man pages and shell completions for the release (see the library).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Write man pages (DIR/man) and bash, zsh and fish completions (DIR/completions) for every tool
#[derive(Parser, Debug)]
#[command(name = "docgen", version = build_info::VERSION)]
struct Cli {
    /// Directory to write into (created if missing; existing files of the same name are replaced)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match docgen::write_all(&cli.out) {
        Ok(written) => {
            eprintln!(
                "docgen: wrote {} files under {}",
                written.len(),
                cli.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("docgen: cannot write under {}: {e}", cli.out.display());
            ExitCode::FAILURE
        }
    }
}
