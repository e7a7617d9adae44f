#!/usr/bin/env bash
# rollout-wait against `kubectl rollout status`, side by side, on one `kube-sim serve` process:
#   - detection latency: from the simulator marking a Deployment's last replica available to the
#     waiting process having exited; target: rollout-wait median under 200 ms;
#   - 50 Deployments watched at once by one rollout-wait: target peak RSS under 30 MiB.
#
# The moment "the last replica is available" is taken from a third, minimal watcher: curl
# streaming the Deployment's watch (`?watch=1`), each event line stamped as it arrives; the first
# with `"availableReplicas":3` is the marker. rollout-wait and kubectl rollout status watch the
# same Deployment at the same time, and each is stamped when it has exited. curl's own delivery
# delay on loopback is well under a millisecond, so the figures are at most that much low, for
# both tools alike. Needs curl.
#
# Usage: scripts/bench/rollout-wait.sh [RUNS]      (default 15 rollouts)
# Release builds go to ROLLOUT_WAIT_BENCH_TARGET (default ~/.cache/pipewright/bench-target), so
# they never wait on, or invalidate, the test build. Needs kubectl; /usr/bin/time for the RSS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

runs="${1:-15}"
# shellcheck source=scripts/bench/common.sh
. scripts/bench/common.sh
command -v kubectl >/dev/null || { echo "kubectl is needed (it is also the comparison)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is needed (the marker watcher)" >&2; exit 1; }

target="${ROLLOUT_WAIT_BENCH_TARGET:-${XDG_CACHE_HOME:-$HOME/.cache}/pipewright/bench-target}"
say "building rollout-wait and kube-sim (release) in $target"
CARGO_TARGET_DIR="$target" cargo build --quiet --release -p rollout-wait -p kube-sim
rollout_wait="$target/release/rollout-wait"
kube_sim="$target/release/kube-sim"

work=$(mktemp -d)
sim_pid=""
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Real-time pace: a pod is ready 2 s after it starts, as the scenario's rule says.
cat >"$work/scenario.yaml" <<'EOF'
pace: 1
nodes: 3
behaviours:
  - image: "registry.example/bench:*"
    behaviour: slow-2s
EOF
"$kube_sim" serve --scenario "$work/scenario.yaml" --kubeconfig-out "$work/kubeconfig" >"$work/sim.json" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$work/sim.json" ] && break; sleep 0.05; done
[ -s "$work/sim.json" ] || { echo "kube-sim did not start" >&2; exit 1; }
say "kube-sim: $(cat "$work/sim.json")"

export KUBECONFIG="$work/kubeconfig" HOME="$work" KUBECACHEDIR="$work/kube-cache"
kubectl get namespaces >/dev/null # warm kubectl's discovery cache, as a CI step's would be
awk '/certificate-authority-data:/ { print $2 }' "$KUBECONFIG" | base64 -d >"$work/ca.pem"
token=$(awk '/token:/ { print $2 }' "$KUBECONFIG")
server=$(awk '/server:/ { print $2 }' "$KUBECONFIG")

deployment() { # name replicas
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, labels: {bench: "true"}}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec: {containers: [{name: app, image: "registry.example/bench:1"}]}
EOF
}

# bash's own clock (no fork of date(1), which would cost a millisecond of resolution).
now_ns() { local us=${EPOCHREALTIME/./}; echo "${us}000"; }

say "detection latency: $runs rollouts of 3 replicas, both tools watching each"
: >"$work/ours.ns"
: >"$work/kubectl.ns"
for i in $(seq "$runs"); do
  name="lat-$i"
  deployment "$name" 3 | kubectl apply -f - >/dev/null
  # The marker: the first watch event saying 3 replicas are available, stamped on arrival.
  # curl writes into a FIFO so that it can be stopped by its own pid once the run is over.
  rm -f "$work/marker" "$work/ours.end" "$work/kubectl.end" "$work/watch.fifo"
  mkfifo "$work/watch.fifo"
  curl -sN --cacert "$work/ca.pem" -H "Authorization: Bearer $token" \
    "$server/apis/apps/v1/namespaces/default/deployments?watch=1&fieldSelector=metadata.name%3D$name" \
    >"$work/watch.fifo" 2>/dev/null &
  watch_pid=$!
  # grep reads in blocks and stops at the first match (bash's `read` would go byte by byte
  # through each event's few kilobytes, a millisecond late).
  (grep -q -m1 '"availableReplicas":3' <"$work/watch.fifo" && now_ns >"$work/marker") &
  reader_pid=$!
  ("$rollout_wait" "deployment/$name" --timeout 60s </dev/null >"$work/ours.json" 2>/dev/null; now_ns >"$work/ours.end") &
  ours_pid=$!
  (kubectl rollout status "deployment/$name" --timeout=60s >/dev/null 2>&1; now_ns >"$work/kubectl.end") &
  kubectl_pid=$!
  wait "$ours_pid" "$kubectl_pid"
  kill "$watch_pid" 2>/dev/null || true
  wait "$watch_pid" "$reader_pid" 2>/dev/null || true
  [ -e "$work/marker" ] || { echo "run $i: the marker watcher never saw 3 available replicas" >&2; exit 1; }
  grep -q '"status":"healthy"' "$work/ours.json" || { echo "run $i: rollout-wait did not report healthy" >&2; cat "$work/ours.json" >&2; exit 1; }
  marker=$(cat "$work/marker")
  echo $(($(cat "$work/ours.end") - marker)) >>"$work/ours.ns"
  echo $(($(cat "$work/kubectl.end") - marker)) >>"$work/kubectl.ns"
  say "run $i: rollout-wait $(( ($(cat "$work/ours.end") - marker) / 1000 )) µs, kubectl $(( ($(cat "$work/kubectl.end") - marker) / 1000 )) µs after the marker"
  kubectl delete deployment "$name" --wait=false >/dev/null
done

median_ms() { # nanosecond samples on stdin
  sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m / 1e6 }'
}
p90_ms() {
  sort -n | awk '{ a[NR] = $1 } END { i = int(NR * 0.9 + 0.5); if (i < 1) i = 1; printf "%.1f", a[i] / 1e6 }'
}
ours_median=$(median_ms <"$work/ours.ns")
ours_p90=$(p90_ms <"$work/ours.ns")
kubectl_median=$(median_ms <"$work/kubectl.ns")
kubectl_p90=$(p90_ms <"$work/kubectl.ns")

say "50 Deployments watched at once"
for i in $(seq 50); do deployment "many-$i" 2; echo "---"; done | kubectl apply -f - >/dev/null
objects=()
for i in $(seq 50); do objects+=("deployment/many-$i"); done
rss="n/a"
many_ms="n/a"
if [ -x /usr/bin/time ]; then
  start=$(now_ns)
  /usr/bin/time -v "$rollout_wait" "${objects[@]}" --timeout 120s </dev/null >"$work/many.json" 2>"$work/many.err"
  many_ms=$((($(now_ns) - start) / 1000000))
  grep -q '"ok":true' "$work/many.json" || { echo "rollout-wait did not see 50 healthy deployments" >&2; tail -5 "$work/many.err" >&2; exit 1; }
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$work/many.err")
fi
kubectl_many_rss="n/a"
if [ -x /usr/bin/time ]; then
  # kubectl takes one object per run; its peak for one is the floor of any script looping over 50.
  kubectl_many_rss=$(/usr/bin/time -v kubectl rollout status deployment/many-1 --timeout=60s 2>&1 >/dev/null |
    awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }')
fi

verdict() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "MISSED"; fi; }
printf '\n%s, %s CPUs, %s rollouts\n\n' "$(uname -sr)" "$(nproc)" "$runs"
printf '| %-42s | %10s | %7s | %12s |\n' "command" "median ms" "p90 ms" "peak RSS MiB"
printf '| %-42s | %10s | %7s | %12s |\n' "------------------------------------------" "---------:" "------:" "-----------:"
printf '| %-42s | %10s | %7s | %12s |\n' "rollout-wait deployment/X" "$ours_median" "$ours_p90" ""
printf '| %-42s | %10s | %7s | %12s |\n' "kubectl rollout status deployment/X" "$kubectl_median" "$kubectl_p90" ""
printf '| %-42s | %10s | %7s | %12s |\n' "rollout-wait, 50 Deployments at once" "($many_ms total)" "" "$rss"
printf '| %-42s | %10s | %7s | %12s |\n' "kubectl rollout status, one Deployment" "" "" "$kubectl_many_rss"
printf '\n'
printf 'detection latency: median %s ms (target < 200 ms): %s\n' "$ours_median" "$(verdict "$ours_median < 200")"
if [ "$rss" != "n/a" ]; then
  printf '50 workloads: peak RSS %s MiB (target < 30 MiB): %s\n' "$rss" "$(verdict "$rss < 30")"
fi
