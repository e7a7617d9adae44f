#!/usr/bin/env bash
# k8s-apply against `kubectl apply --server-side`, side by side in one run, against one kube-sim
# that adds 30 ms to every request (a remote EKS endpoint), with a 100-object set (25 each of
# ConfigMap, Secret, Service, Deployment, plus their Namespace):
#   (a) first apply into a fresh namespace (deleted before every run): target k8s-apply median
#       >= 4x faster than kubectl;
#   (b) re-apply with nothing to change: target k8s-apply no slower than kubectl;
#   (c) peak RSS of k8s-apply: target < 50 MiB.
# k8s-apply runs twice in each: plainly (what kubectl does) and as a release (--release: deploy
# lock, ApplySet parent, revision record, prune plan), which is how pipelines run it.
#
# Usage: scripts/bench/k8s-apply.sh [RUNS]      (default 10 timed runs per command, 2 warm-ups)
# Environment: KUBECTL (default: kubectl on PATH), K8S_APPLY_BENCH_LATENCY_MS (default 30),
# K8S_APPLY_BENCH_TARGET (default ~/.cache/pipewright/bench-target: the release build's own
# target directory, so it never waits on, or invalidates, the test build).
# Needs hyperfine (installed from Debian when root and missing), python3, and /usr/bin/time
# (package `time`) for the peak RSS. Prints a Markdown section on stdout, progress on stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

runs="${1:-10}"
latency="${K8S_APPLY_BENCH_LATENCY_MS:-30}"
# shellcheck source=scripts/bench/common.sh
. scripts/bench/common.sh
command -v hyperfine >/dev/null || { say "installing hyperfine"; apt_install hyperfine; }
[ -x /usr/bin/time ] || { say "installing time"; apt_install time || say "no /usr/bin/time: RSS not measured"; }
kubectl="${KUBECTL:-$(command -v kubectl)}"
[ -x "$kubectl" ] || { echo "no kubectl (set KUBECTL)" >&2; exit 1; }

target="${K8S_APPLY_BENCH_TARGET:-${XDG_CACHE_HOME:-$HOME/.cache}/pipewright/bench-target}"
say "building k8s-apply and kube-sim (release) in $target"
CARGO_TARGET_DIR="$target" cargo build --quiet --release -p k8s-apply -p kube-sim
k8s_apply="$target/release/k8s-apply"
kube_sim="$target/release/kube-sim"

work=$(mktemp -d)
sim_pid=
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# --- the simulator -----------------------------------------------------------------------------
printf 'faults:\n  latencyMs: %s\n' "$latency" >"$work/scenario.yaml"
"$kube_sim" serve --scenario "$work/scenario.yaml" --kubeconfig-out "$work/kubeconfig" \
  >"$work/sim.json" 2>"$work/sim.log" &
sim_pid=$!
# Ready when it has printed its JSON line (it does so once it accepts connections).
for _ in $(seq 100); do
  [ -s "$work/sim.json" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/sim.json" ] || { echo "kube-sim did not start" >&2; exit 1; }
say "kube-sim $(cat "$work/sim.json"), ${latency} ms per request"

mkdir -p "$work/home"
# One clean environment for every command: kubectl keeps its discovery cache in this HOME across
# runs (warm, as on a developer's machine or a CI runner after its first kubectl call).
run_env=(env -i "PATH=/usr/bin:/bin" "HOME=$work/home" "KUBECONFIG=$work/kubeconfig")

# --- the sets ----------------------------------------------------------------------------------
# gen_set DIR NAMESPACE: the Namespace and 25 each of ConfigMap, Secret, Service, Deployment, in
# files kubectl applies in order (namespace first).
gen_set() {
  local dir=$1 ns=$2 i
  mkdir -p "$dir"
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns" >"$dir/00-namespace.yaml"
  for i in $(seq -w 1 25); do
    printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-%s\n  namespace: %s\ndata:\n  LOG_LEVEL: info\n  FEATURE_%s: "on"\n  ENDPOINT: https://svc-%s.%s.svc.cluster.local\n' \
      "$i" "$ns" "$i" "$i" "$ns"
  done >"$dir/10-configmaps.yaml"
  for i in $(seq -w 1 25); do
    printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-%s\n  namespace: %s\ntype: Opaque\nstringData:\n  password: bench-password-%s\n' \
      "$i" "$ns" "$i"
  done >"$dir/20-secrets.yaml"
  for i in $(seq -w 1 25); do
    printf -- '---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%s\n  namespace: %s\nspec:\n  selector:\n    app: svc-%s\n  ports:\n    - name: http\n      port: 80\n      targetPort: 8080\n' \
      "$i" "$ns" "$i"
  done >"$dir/30-services.yaml"
  for i in $(seq -w 1 25); do
    printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-%s\n  namespace: %s\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: svc-%s\n  template:\n    metadata:\n      labels:\n        app: svc-%s\n    spec:\n      containers:\n        - name: app\n          image: registry.example/svc-%s:1.0.0\n          ports:\n            - containerPort: 8080\n' \
      "$i" "$ns" "$i" "$i" "$i"
  done >"$dir/40-deployments.yaml"
}
gen_set "$work/first" bench-first
# Each tool re-applies its own copy: kubectl and k8s-apply as two field managers of one Secret
# conflict over `stringData` (the API server keeps only `data`), so they do not share objects.
gen_set "$work/steady" bench-steady
gen_set "$work/steady-kubectl" bench-steady-kubectl
gen_set "$work/steady-release" bench-release
objects=$(cat "$work"/first/*.yaml | grep -c '^kind:')
say "sets of $objects objects in $work"

first_ns=(delete namespace bench-first --ignore-not-found --wait=true)
k_first=("$k8s_apply" -f "$work/first")
k_first_release=("$k8s_apply" -f "$work/first" --release web -n bench-first --lock-holder bench)
c_first=("$kubectl" apply --server-side -f "$work/first")
k_steady=("$k8s_apply" -f "$work/steady")
k_steady_release=("$k8s_apply" -f "$work/steady-release" --release web -n bench-release --lock-holder bench)
c_steady=("$kubectl" apply --server-side -f "$work/steady-kubectl")

count_actions() { # DOC ACTION: how many objects of a k8s-apply document have ACTION
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(o["action"] == sys.argv[2] for o in d.get("objects", [])))' "$1" "$2"
}

# --- sanity: each command does what it is timed for -------------------------------------------
say "sanity checks"
for cmd in k_first k_first_release; do
  declare -n argv="$cmd"
  "${run_env[@]}" "$kubectl" "${first_ns[@]}" >/dev/null
  "${run_env[@]}" "${argv[@]}" >"$work/doc.json" 2>/dev/null
  created=$(count_actions "$work/doc.json" created)
  [ "$created" = "$objects" ] || { echo "$cmd created $created of $objects objects" >&2; exit 1; }
done
"${run_env[@]}" "$kubectl" "${first_ns[@]}" >/dev/null
applied=$("${run_env[@]}" "${c_first[@]}" | grep -c 'serverside-applied')
[ "$applied" = "$objects" ] || { echo "kubectl applied $applied of $objects objects" >&2; exit 1; }
# The steady sets: applied once by each tool that re-applies them, then nothing is left to change.
"${run_env[@]}" "${k_steady[@]}" >/dev/null 2>&1
"${run_env[@]}" "${c_steady[@]}" >/dev/null
"${run_env[@]}" "${k_steady_release[@]}" >/dev/null 2>&1
for cmd in k_steady k_steady_release; do
  declare -n argv="$cmd"
  "${run_env[@]}" "${argv[@]}" >"$work/doc.json" 2>/dev/null
  unchanged=$(count_actions "$work/doc.json" unchanged)
  [ "$unchanged" = "$objects" ] || { echo "$cmd: $unchanged of $objects unchanged" >&2; exit 1; }
done

# --- timing ------------------------------------------------------------------------------------
hyperfine=$(command -v hyperfine)
say "(a) first apply into a fresh namespace: $runs runs each, 2 warm-ups"
"${run_env[@]}" "$hyperfine" -N --warmup 2 --runs "$runs" --style basic \
  --prepare "$kubectl ${first_ns[*]}" \
  --export-json "$work/first.json" \
  -n "k8s-apply" "${k_first[*]}" \
  -n "k8s-apply --release" "${k_first_release[*]}" \
  -n "kubectl apply --server-side" "${c_first[*]}" >&2
say "(b) re-apply, nothing to change: $runs runs each, 2 warm-ups"
"${run_env[@]}" "$hyperfine" -N --warmup 2 --runs "$runs" --style basic \
  --export-json "$work/steady.json" \
  -n "k8s-apply" "${k_steady[*]}" \
  -n "k8s-apply --release" "${k_steady_release[*]}" \
  -n "kubectl apply --server-side" "${c_steady[*]}" >&2

declare -A median
while IFS=$'\t' read -r key value; do median["$key"]=$value; done < <(
  python3 -c 'import json,sys
for path, phase in ((sys.argv[1], "first"), (sys.argv[2], "steady")):
    for r in json.load(open(path))["results"]:
        print(phase + "/" + r["command"] + "\t" + "%.0f" % (r["median"] * 1000))' \
    "$work/first.json" "$work/steady.json")

# --- memory ------------------------------------------------------------------------------------
peak_rss_mib() { # PREPARE-OR-- CMD...: the largest "Maximum resident set size" of 3 runs, MiB
  local prepare=$1
  shift
  [ -x /usr/bin/time ] || { echo "n/a"; return; }
  for _ in 1 2 3; do
    [ "$prepare" = - ] || "${run_env[@]}" "$kubectl" "${first_ns[@]}" >/dev/null
    "${run_env[@]}" /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ { print $2 }'
  done | sort -n | tail -1 | awk '{ printf "%.1f", $1 / 1024 }'
}
say "(c) peak RSS"
rss_k_first=$(peak_rss_mib first "${k_first_release[@]}")
rss_k_steady=$(peak_rss_mib - "${k_steady_release[@]}")
rss_c_first=$(peak_rss_mib first "${c_first[@]}")

# --- requests ----------------------------------------------------------------------------------
# Where the time goes: every request costs the injected latency, so the number of requests, and
# median / latency (the requests on the critical path, as if each waited for the one before),
# say how well a tool overlaps its calls. Counted from the tools' own debug logs on one more run.
requests() { # first|- CMD...: the HTTP requests one run makes
  local prepare=$1
  shift
  [ "$prepare" = - ] || "${run_env[@]}" "$kubectl" "${first_ns[@]}" >/dev/null
  if [ "$1" = "$kubectl" ]; then
    "${run_env[@]}" "$@" -v=6 2>&1 >/dev/null | grep -cE 'round_trippers.go:[0-9]+\] (GET|PUT|POST|PATCH|DELETE) https://' || true
  else
    "${run_env[@]}" "$@" -vvv 2>&1 >/dev/null | grep -c 'debug: requesting' || true
  fi
}
say "(d) requests per run"
q_k1=$(requests first "${k_first[@]}") q_k1r=$(requests first "${k_first_release[@]}") q_c1=$(requests first "${c_first[@]}")
q_k2=$(requests - "${k_steady[@]}") q_k2r=$(requests - "${k_steady_release[@]}") q_c2=$(requests - "${c_steady[@]}")

# --- report ------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "MISSED"; fi; }
k1=${median["first/k8s-apply"]} k1r=${median["first/k8s-apply --release"]} c1=${median["first/kubectl apply --server-side"]}
k2=${median["steady/k8s-apply"]} k2r=${median["steady/k8s-apply --release"]} c2=${median["steady/kubectl apply --server-side"]}
serial() { awk -v t="$1" -v l="$latency" 'BEGIN { printf "%.0f", t / l }'; }
r1=$(ratio "$c1" "$k1") r1r=$(ratio "$c1" "$k1r") r2=$(ratio "$c2" "$k2") r2r=$(ratio "$c2" "$k2r")
kubectl_version=$("$kubectl" version --client 2>/dev/null | sed -n 's/^Client Version: //p')

cat <<EOF
### Performance

\`scripts/bench/k8s-apply.sh $runs\`: $objects objects (Namespace and 25 each of ConfigMap, Secret,
Service, Deployment) against \`kube-sim serve\` adding ${latency} ms to every request, release build,
hyperfine medians of $runs runs after 2 warm-ups; $(nproc) CPUs ($(uname -sr)), $(date -u +%Y-%m-%d);
kubectl ${kubectl_version:-?} with a warm discovery cache.

| | k8s-apply | k8s-apply --release | kubectl apply --server-side | kubectl / k8s-apply |
| --- | ---: | ---: | ---: | ---: |
| (a) first apply, fresh namespace | ${k1} ms | ${k1r} ms | ${c1} ms | ${r1}x (${r1r}x with --release) |
| (b) re-apply, nothing changes | ${k2} ms | ${k2r} ms | ${c2} ms | ${r2}x (${r2r}x with --release) |
| peak RSS (max of 3) | ${rss_k_first} MiB first apply, ${rss_k_steady} MiB re-apply (--release) | | ${rss_c_first} MiB | |

Requests per run, and in brackets median / ${latency} ms: about how many requests wait one for
another, when the client's own CPU time is small (kubectl's is not: about 1.4 s of it per run):

| | k8s-apply | k8s-apply --release | kubectl apply --server-side |
| --- | ---: | ---: | ---: |
| (a) first apply | ${q_k1} ($(serial "$k1")) | ${q_k1r} ($(serial "$k1r")) | ${q_c1} ($(serial "$c1")) |
| (b) re-apply | ${q_k2} ($(serial "$k2")) | ${q_k2r} ($(serial "$k2r")) | ${q_c2} ($(serial "$c2")) |

- (a) target k8s-apply >= 4x faster than kubectl: $(verdict "$r1 >= 4") (${r1}x; ${r1r}x with --release: $(verdict "$r1r >= 4"))
- (b) target k8s-apply no slower than kubectl: $(verdict "$k2 <= $c2") (${k2} vs ${c2} ms; with --release ${k2r} ms: $(verdict "$k2r <= $c2"))
- (c) target peak RSS < 50 MiB: $(verdict "$rss_k_first < 50 && $rss_k_steady < 50")
EOF
