#!/usr/bin/env bash
# Downloads a pipewright release's binaries for this runner, checks them against the release's
# SHA256SUMS before anything from the archive runs, and adds them to PATH.
# Environment: PIPEWRIGHT_VERSION (tag or `latest`), PIPEWRIGHT_REPOSITORY (owner/name),
# GH_TOKEN; the runner's RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, GITHUB_PATH, GITHUB_OUTPUT.
set -euo pipefail

fail() { printf '::error title=setup-pipewright::%s\n' "$*" >&2; exit 1; }

[ "${RUNNER_OS:-}" = Linux ] || fail "release binaries are for Linux runners; this one is ${RUNNER_OS:-unknown} (use version: source)"
case "${RUNNER_ARCH:-}" in
  X64) target=x86_64-unknown-linux-musl ;;
  ARM64) target=aarch64-unknown-linux-musl ;;
  *) fail "no release binaries for runner architecture ${RUNNER_ARCH:-unknown} (use version: source)" ;;
esac
[[ $PIPEWRIGHT_REPOSITORY =~ ^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$ ]] || fail "repository '$PIPEWRIGHT_REPOSITORY' is not owner/name"

tag=$PIPEWRIGHT_VERSION
if [ "$tag" = latest ]; then
  tag=$(gh release view --repo "$PIPEWRIGHT_REPOSITORY" --json tagName --jq .tagName)
fi
[[ $tag =~ ^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] || fail "version '$tag' is not a release tag such as v0.1.0, latest or source"

archive="pipewright-$tag-$target.tar.gz"
work="$RUNNER_TEMP/setup-pipewright/$tag"
bin_dir="$work/bin"
rm -rf "$work"
mkdir -p "$bin_dir"
printf 'downloading %s and SHA256SUMS from %s\n' "$archive" "$PIPEWRIGHT_REPOSITORY" >&2
gh release download "$tag" --repo "$PIPEWRIGHT_REPOSITORY" --dir "$work" \
  --pattern "$archive" --pattern SHA256SUMS

# Only the archive's own line is checked: a missing line is a failure, never a silent pass.
expected=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1 }' "$work/SHA256SUMS")
[ -n "$expected" ] || fail "SHA256SUMS of $tag has no line for $archive"
(cd "$work" && printf '%s  %s\n' "$expected" "$archive" | sha256sum --check --strict --quiet) \
  || fail "$archive does not match its SHA256SUMS line: not installed"

tar -xzf "$work/$archive" -C "$bin_dir" --strip-components=1 --no-same-owner
for tool in oidc-creds eks-token k8s-apply rollout-wait; do
  [ -x "$bin_dir/$tool" ] || fail "$archive has no $tool"
done
echo "$bin_dir" >>"$GITHUB_PATH"
version=$("$bin_dir/k8s-apply" --version)
printf 'installed %s in %s\n' "$version" "$bin_dir" >&2
{
  echo "bin-dir=$bin_dir"
  echo "version=$version"
} >>"$GITHUB_OUTPUT"
