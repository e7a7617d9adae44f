#!/usr/bin/env bash
# Builds the pipewright tools from the source this action came with (the repository around
# .github/actions/setup-pipewright) and adds them to PATH.
#   build-source.sh cache-key   writes the cache key outputs (toolchain, Cargo.lock, commit)
#   build-source.sh build       installs Rust 1.95 if needed, builds (release), adds to PATH
set -euo pipefail

rust_version=1.95
source_dir=$(cd "$GITHUB_ACTION_PATH/../../.." && pwd)
export CARGO_TARGET_DIR="$HOME/.cache/setup-pipewright/target"
export RUSTUP_TOOLCHAIN=$rust_version
tools=(oidc-creds eks-token k8s-apply rollout-wait)

case "${1:-}" in
  cache-key)
    lock=$(sha256sum "$source_dir/Cargo.lock" | cut -c1-16)
    prefix="setup-pipewright-${RUNNER_OS}-${RUNNER_ARCH}-rust${rust_version}-${lock}-"
    commit=$(git -C "$source_dir" rev-parse HEAD 2>/dev/null || echo "${ACTION_REF:-none}")
    {
      echo "key=$prefix$commit"
      echo "restore-prefix=$prefix"
    } >>"$GITHUB_OUTPUT"
    ;;
  build)
    if ! rustup run "$rust_version" rustc --version >/dev/null 2>&1; then
      rustup toolchain install "$rust_version" --profile minimal >&2
    fi
    # A downloaded action has no .git: name the commit from the ref it was pinned to, if a SHA.
    if ! git -C "$source_dir" rev-parse HEAD >/dev/null 2>&1 && [[ ${ACTION_REF:-} =~ ^[0-9a-f]{40}$ ]]; then
      export PIPEWRIGHT_BUILD_COMMIT=$ACTION_REF
    fi
    packages=()
    for tool in "${tools[@]}"; do packages+=(--package "$tool"); done
    printf 'building %s from %s\n' "${tools[*]}" "$source_dir" >&2
    (cd "$source_dir" && cargo build --release --locked "${packages[@]}")
    bin_dir="$CARGO_TARGET_DIR/release"
    echo "$bin_dir" >>"$GITHUB_PATH"
    version=$("$bin_dir/k8s-apply" --version)
    printf 'built %s\n' "$version" >&2
    {
      echo "bin-dir=$bin_dir"
      echo "version=$version"
    } >>"$GITHUB_OUTPUT"
    ;;
  *)
    echo "usage: build-source.sh cache-key|build" >&2
    exit 2
    ;;
esac
