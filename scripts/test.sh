#!/usr/bin/env bash
# Runs every check CI runs, on a fresh machine or a warm one:
#   1. installs what the tests need when it is missing (PostgreSQL server, Python venv with moto,
#      rustfmt/clippy), and nothing when it is all there;
#   2. cargo fmt --check, clippy with -D warnings, the whole test suite;
#   3. fails if any server the tests started is still running afterwards.
# Usage: scripts/test.sh            (extra arguments go to the test runner, e.g. a test filter)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A persistent target directory makes a warm run fast and changes nothing on a fresh machine.
# One per checkout: cargo re-links `target/debug/<tool>` only when it compiles, so two checkouts
# sharing a directory can each run the other's binaries (and the test bed its paths).
checkout_key=$(pwd -P | sha256sum | cut -c1-12)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pipewright/target-$checkout_key}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"

step() { printf '==> %s\n' "$*" >&2; }
started=$SECONDS

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

step "system packages"
missing=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v curl >/dev/null || missing+=(curl)
command -v pgrep >/dev/null || missing+=(procps)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing from Debian: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

step "rust components"
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

step "python venv with moto (cached under ~/.cache/pipewright)"
cargo run --quiet --package testbed -- prepare

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  # nextest does not run doc tests; run them first so that nextest's summary closes the log.
  cargo test --workspace --doc --quiet
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi

step "no test server left running"
if leaked=$(pgrep -af pipewright-testbed); then
  printf 'these processes started by the tests are still running:\n%s\n' "$leaked" >&2
  exit 1
fi

step "all checks passed in $((SECONDS - started))s"
