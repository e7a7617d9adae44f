#!/usr/bin/env bash
# Checks a release build's binaries and packs them for the GitHub release (release.yml).
# Usage: scripts/release-package.sh TARGET TAG BIN_DIR OUT_DIR
#   TARGET   e.g. x86_64-unknown-linux-musl (names the archive)
#   TAG      e.g. v0.1.0
#   BIN_DIR  holds oidc-creds, eks-token, k8s-apply, rollout-wait
# Writes OUT_DIR/pipewright-TAG-TARGET.tar.gz with one top directory of the same name. Fails if a
# binary is missing, is not statically linked, or (on its own architecture) does not run.
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: $0 TARGET TAG BIN_DIR OUT_DIR" >&2; exit 2; }
target=$1 tag=$2 bin_dir=$3 out_dir=$4
tools=(oidc-creds eks-token k8s-apply rollout-wait)
name="pipewright-$tag-$target"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/$name" "$out_dir"

for tool in "${tools[@]}"; do
  binary="$bin_dir/$tool"
  [ -f "$binary" ] || { echo "$binary is missing" >&2; exit 1; }
  # A dynamic musl binary would need the musl loader, which no glibc distribution has.
  if readelf --program-headers "$binary" | grep -q 'INTERP'; then
    echo "$binary is dynamically linked (it has a program interpreter)" >&2
    exit 1
  fi
  install -m 0755 "$binary" "$scratch/$name/$tool"
  if [ "${target%%-*}" = "$(uname -m)" ]; then
    printf '%s\n' "$("$scratch/$name/$tool" --version)" >&2
  fi
done

# Reproducible archive: sorted names, fixed owner and mtime (the tag's commit time when known).
mtime=$(git log -1 --format=%ct 2>/dev/null || echo 0)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
  -C "$scratch" -czf "$out_dir/$name.tar.gz" "$name"
echo "wrote $out_dir/$name.tar.gz" >&2
