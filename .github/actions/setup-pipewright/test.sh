#!/usr/bin/env bash
# Exercises install-release.sh as a runner would, with a local stand-in for the GitHub CLI that
# serves a fake release from a directory: a good archive installs and lands on PATH; a corrupted
# archive, or one SHA256SUMS does not list, is refused and nothing is added to PATH.
# Run by scripts/check-workflows.sh; needs bash, tar, sha256sum.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tag=v9.8.7
case "$(uname -m)" in
  x86_64) arch=X64 target=x86_64-unknown-linux-musl ;;
  aarch64) arch=ARM64 target=aarch64-unknown-linux-musl ;;
  *) echo "setup-pipewright test: skipped on $(uname -m)" >&2; exit 0 ;;
esac
archive="pipewright-$tag-$target.tar.gz"

# A release: four executables that answer --version, packed as release.yml packs them.
make_release() {
  local dir=$1 name="pipewright-$tag-$target"
  rm -rf "$dir" && mkdir -p "$dir/src/$name"
  for tool in oidc-creds eks-token k8s-apply rollout-wait; do
    printf '#!/bin/sh\necho "%s 9.8.7 (abc1234 2026-12-02)"\n' "$tool" >"$dir/src/$name/$tool"
    chmod 0755 "$dir/src/$name/$tool"
  done
  tar -czf "$dir/$archive" -C "$dir/src" "$name"
  (cd "$dir" && sha256sum "$archive" >SHA256SUMS)
}

# `gh release download TAG --repo R --dir D --pattern P...` copies matching files from $FAKE_RELEASE.
mkdir -p "$work/bin"
cat >"$work/bin/gh" <<'GH'
#!/usr/bin/env bash
set -euo pipefail
[ "$1 $2" = "release download" ] || { echo "fake gh: unexpected $*" >&2; exit 1; }
shift 3
dir=. patterns=()
while [ $# -gt 0 ]; do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --pattern) patterns+=("$2"); shift 2 ;;
    *) shift ;;
  esac
done
for p in "${patterns[@]}"; do cp "$FAKE_RELEASE/$p" "$dir/"; done
GH
chmod 0755 "$work/bin/gh"

run_install() {
  : >"$work/path" && : >"$work/output"
  env PATH="$work/bin:$PATH" FAKE_RELEASE="$work/release" RUNNER_OS=Linux RUNNER_ARCH=$arch \
    RUNNER_TEMP="$work/tmp" GITHUB_PATH="$work/path" GITHUB_OUTPUT="$work/output" \
    PIPEWRIGHT_VERSION=$tag PIPEWRIGHT_REPOSITORY=example/pipewright GH_TOKEN=unused \
    "$here/install-release.sh" >"$work/log" 2>&1
}
fail() { echo "setup-pipewright test: $*" >&2; cat "$work/log" >&2; exit 1; }

make_release "$work/release"
run_install || fail "a good release was refused"
bin_dir=$(cat "$work/path")
[ "$("$bin_dir/rollout-wait" --version)" = "rollout-wait 9.8.7 (abc1234 2026-12-02)" ] || fail "rollout-wait not installed"
grep -qx 'version=k8s-apply 9.8.7 (abc1234 2026-12-02)' "$work/output" || fail "no version output"

make_release "$work/release"
printf 'garbage' >>"$work/release/$archive"
if run_install; then fail "a corrupted archive was installed"; fi
[ ! -s "$work/path" ] || fail "a corrupted archive reached PATH"
grep -q 'does not match' "$work/log" || fail "no checksum error for a corrupted archive"

make_release "$work/release"
echo "0000  other-file.tar.gz" >"$work/release/SHA256SUMS"
if run_install; then fail "an archive SHA256SUMS does not list was installed"; fi
[ ! -s "$work/path" ] || fail "an unlisted archive reached PATH"
grep -q 'has no line for' "$work/log" || fail "no error for an unlisted archive"

echo "setup-pipewright test: install, corrupted archive, unlisted archive: as expected" >&2
