#!/usr/bin/env bash
# eks-token against `aws eks get-token`, side by side in one run, same machine, same credentials:
#   - cold start to output (release build, --no-cache): target median >= 25x faster than the CLI;
#   - the cached path (a token from the on-disk cache): target median under 5 ms;
#   - peak RSS of eks-token: target at most 15 MiB.
# Nothing goes over the network: both sign locally with dummy environment credentials.
#
# Usage: scripts/bench/eks-token.sh [RUNS]      (default 40 timed runs per command)
# Uses hyperfine when installed (installs it from Debian when root and it is missing), else a
# loop with `date +%s%N`; /usr/bin/time (package `time`) for the peak RSS.
# The release build goes to its own target directory (EKS_TOKEN_BENCH_TARGET, default
# ~/.cache/pipewright/bench-target) so it never waits on, or invalidates, the test build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

runs="${1:-40}"
# shellcheck source=scripts/bench/common.sh
. scripts/bench/common.sh

command -v hyperfine >/dev/null || { say "installing hyperfine"; apt_install hyperfine || say "no hyperfine: timing with a shell loop"; }
[ -x /usr/bin/time ] || { say "installing time"; apt_install time || say "no /usr/bin/time: RSS not measured"; }

target="${EKS_TOKEN_BENCH_TARGET:-${XDG_CACHE_HOME:-$HOME/.cache}/pipewright/bench-target}"
say "building eks-token (release) in $target"
CARGO_TARGET_DIR="$target" cargo build --quiet --release -p eks-token
eks_token="$target/release/eks-token"

say "the Python venv with awscli (scripts/python-requirements.txt)"
if [ -n "${PIPEWRIGHT_VENV:-}" ]; then
  venv="$PIPEWRIGHT_VENV"
else
  # The test bed's own build (the test suite's target directory), which the tests use too.
  venv=$(cargo run --quiet -p testbed -- prepare 2>&1 | sed -n 's/^testbed: Python venv ready at //p')
fi
aws="$venv/bin/aws"
[ -x "$aws" ] || { echo "no aws CLI at $aws" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: >"$work/empty"
# The same dummy credentials and region for both; no config files, no instance metadata.
# (AWS CLI v1 reads AWS_DEFAULT_REGION; eks-token reads AWS_REGION first, then that one.)
run_env=(env -i "PATH=/usr/bin:/bin" "HOME=$work" "XDG_CACHE_HOME=$work/cache"
  "AWS_ACCESS_KEY_ID=AKIDEXAMPLE" "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
  "AWS_DEFAULT_REGION=eu-west-1" "AWS_REGION=eu-west-1" "AWS_EC2_METADATA_DISABLED=true"
  "AWS_CONFIG_FILE=$work/empty" "AWS_SHARED_CREDENTIALS_FILE=$work/empty")

cold=("$eks_token" token --cluster bench --no-cache)
cached=("$eks_token" token --cluster bench)
cli=("$aws" eks get-token --cluster-name bench)

# Sanity: all three print a token, and the cache is warm for the cached runs.
for cmd in cold cached cli; do
  declare -n argv="$cmd"
  "${run_env[@]}" "${argv[@]}" | grep -q '"token":"k8s-aws-v1\.\|"token": "k8s-aws-v1\.' ||
    { echo "$cmd did not print a token" >&2; exit 1; }
done

median_ms() { # reads nanosecond samples on stdin
  sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.2f", m / 1e6 }'
}

declare -A median
if command -v hyperfine >/dev/null; then
  say "hyperfine: $runs runs each, 3 warm-ups"
  "${run_env[@]}" "$(command -v hyperfine)" -N --warmup 3 --runs "$runs" --style basic \
    --export-json "$work/hyperfine.json" \
    -n "eks-token (cold, --no-cache)" "${cold[*]}" \
    -n "eks-token (cached)" "${cached[*]}" \
    -n "aws eks get-token" "${cli[*]}" >&2
  while IFS=$'\t' read -r name value; do median["$name"]=$value; done < <(
    python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["command"] + "\t" + "%.2f" % (r["median"] * 1000))' "$work/hyperfine.json")
else
  say "shell loop: $runs runs each"
  for cmd in cold cached cli; do
    declare -n argv="$cmd"
    for _ in $(seq "$runs"); do
      start=$(date +%s%N); "${run_env[@]}" "${argv[@]}" >/dev/null; end=$(date +%s%N)
      echo $((end - start))
    done >"$work/$cmd.ns"
  done
  median["eks-token (cold, --no-cache)"]=$(median_ms <"$work/cold.ns")
  median["eks-token (cached)"]=$(median_ms <"$work/cached.ns")
  median["aws eks get-token"]=$(median_ms <"$work/cli.ns")
fi

peak_rss_mib() { # the largest "Maximum resident set size" over 5 runs, in MiB
  [ -x /usr/bin/time ] || { echo "n/a"; return; }
  for _ in 1 2 3 4 5; do
    "${run_env[@]}" /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ { print $2 }'
  done | sort -n | tail -1 | awk '{ printf "%.1f", $1 / 1024 }'
}
rss_cold=$(peak_rss_mib "${cold[@]}")
rss_cached=$(peak_rss_mib "${cached[@]}")
rss_cli=$(peak_rss_mib "${cli[@]}")

m_cold=${median["eks-token (cold, --no-cache)"]}
m_cached=${median["eks-token (cached)"]}
m_cli=${median["aws eks get-token"]}
ratio=$(awk -v a="$m_cli" -v b="$m_cold" 'BEGIN { printf "%.0f", a / b }')
verdict() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "MISSED"; fi; }

printf '\n%s, %s CPUs, %s runs each\n\n' "$(uname -sr)" "$(nproc)" "$runs"
cli_label="aws eks get-token (awscli $("$venv/bin/python" -c 'import awscli; print(awscli.__version__)'))"
printf '| %-34s | %9s | %12s |\n' "command" "median ms" "peak RSS MiB"
printf '| %-34s | %9s | %12s |\n' "$(printf -- '-%.0s' {1..34})" "--------:" "-----------:"
printf '| %-34s | %9s | %12s |\n' "eks-token token (cold, --no-cache)" "$m_cold" "$rss_cold"
printf '| %-34s | %9s | %12s |\n' "eks-token token (cached)" "$m_cached" "$rss_cached"
printf '| %-34s | %9s | %12s |\n' "$cli_label" "$m_cli" "$rss_cli"
printf '\n'
printf 'cold start: %sx faster than aws eks get-token (target >= 25x): %s\n' "$ratio" "$(verdict "$ratio >= 25")"
printf 'cached path: %s ms (target < 5 ms): %s\n' "$m_cached" "$(verdict "$m_cached < 5")"
if [ "$rss_cold" != "n/a" ]; then
  printf 'peak RSS: %s MiB (target <= 15 MiB): %s\n' "$rss_cold" "$(verdict "$rss_cold <= 15")"
fi
