#!/usr/bin/env bash
# The deploy pipeline against the tool users would pick instead, helm 4, side by side in one run,
# on kube-sim adding 30 ms to every request (a remote EKS endpoint):
#   (a) deploy: the development overlay, from nothing to every workload ready.
#       helm:  helm upgrade --install --wait, of a chart holding the same rendered objects;
#       ours:  k8s-apply --release … | rollout-wait
#   (b) a broken image (tag pull-error), until the release is healthy again at the old version.
#       helm:  helm upgrade --wait --rollback-on-failure --timeout $HELM_TIMEOUT;
#       ours:  k8s-apply … | rollout-wait || k8s-apply rollback … | rollout-wait
#   (c) upgrade: what every push deploys, a running healthy release (deployed untimed, on a
#       simulator of its own) to a new image tag, until every workload is ready at it.
#       helm:  helm upgrade --install --wait, of the chart at the new tag;
#       ours:  k8s-apply … --set-image …:NEW | rollout-wait
#   (a) once more on a simulator that gives an Ingress its load balancer address at once
#       (loadBalancerDelaySeconds: 0): helm --wait does not wait for that address, ours does; this
#       row shows what the two take when neither waits for it. It is an extra row, not the figure.
# Goal: ours >= 3x faster on both. Every run starts fresh kube-sims for each tool, so (a) is a
# first install and neither tool sees the other's objects; each command's outcome is
# checked (images and ready replicas) after it is timed. The request log of kube-sim says how
# many requests each took, and how many waited one for another (the critical path).
#
# Usage: scripts/bench/pipeline.sh [RUNS]            (default 5 runs of each)
# Environment:
#   MANIFESTS   what to deploy: a kustomize directory, a YAML file, or `-` for rendered YAML on
#               stdin (default manifests/k8s/overlays/development). Images docker.io/cloudtolocalllm/{web,api} get the run's tags.
#               A set with an ExternalSecret gets, before each run and untimed, what the
#               cluster's add-ons would hold: manifests/k8s/local (the CRD) and the Secret the
#               operator would make, in the namespace created beforehand (adoptable by helm).
#   HELM (default: the one scripts/test.sh installs, else on PATH), KUBECTL (default: on PATH),
#   HELM_TIMEOUT (default 60s: helm cannot tell an image that never pulls from a slow pull, so
#   its failed upgrade ends when this runs out; its figure in (b) grows with it),
#   PIPELINE_BENCH_LATENCY_MS (default 30), PIPELINE_BENCH_PACE (simulated seconds per real
#   second, default 1: a pod is ready about 1 s after it starts), PIPELINE_BENCH_TARGET (default
#   ~/.cache/pipewright/bench-target: the release build's own target directory),
#   PIPELINE_BENCH_KEEP (set: keep the working directory, with each simulator's request log).
# Prints a Markdown section on stdout, progress on stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

runs="${1:-5}"
latency="${PIPELINE_BENCH_LATENCY_MS:-30}"
pace="${PIPELINE_BENCH_PACE:-1}"
helm_timeout="${HELM_TIMEOUT:-60s}"
# shellcheck source=scripts/bench/common.sh
. scripts/bench/common.sh

cache="${XDG_CACHE_HOME:-$HOME/.cache}/pipewright"
helm="${HELM:-}"
if [ -z "$helm" ]; then
  helm=$(find "$cache" -maxdepth 3 -path '*kubectl-layer-v35*/helm/helm' -type f 2>/dev/null | head -1)
  [ -n "$helm" ] || helm=$(command -v helm || true)
fi
if [ -z "$helm" ] || [ ! -x "$helm" ]; then echo "no helm 4 (set HELM; scripts/test.sh installs one)" >&2; exit 1; fi
kubectl="${KUBECTL:-$(command -v kubectl || true)}"
if [ -z "$kubectl" ] || [ ! -x "$kubectl" ]; then echo "no kubectl (set KUBECTL)" >&2; exit 1; fi
command -v python3 >/dev/null || { echo "python3 is needed (statistics)" >&2; exit 1; }
python3 -c 'import yaml' 2>/dev/null || { say "installing python3-yaml"; apt_install python3-yaml; }

target="${PIPELINE_BENCH_TARGET:-$cache/bench-target}"
say "building k8s-apply, rollout-wait and kube-sim (release) in $target"
CARGO_TARGET_DIR="$target" cargo build --quiet --release -p k8s-apply -p rollout-wait -p kube-sim
k8s_apply="$target/release/k8s-apply"
rollout_wait="$target/release/rollout-wait"
kube_sim="$target/release/kube-sim"

work=$(mktemp -d)
sim_pid=""
stop_sim() {
  if [ -n "$sim_pid" ]; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
    sim_pid=""
  fi
}
cleanup() {
  stop_sim
  if [ -n "${PIPELINE_BENCH_KEEP:-}" ]; then say "kept $work (request logs: */requests.jsonl)"; else rm -rf "$work"; fi
}
trap cleanup EXIT

release=cloudtolocalllm
namespace=cloudtolocalllm
environment=development
good=bench-1.0.0
new=bench-1.1.0
bad=pull-error

# --- the manifests -----------------------------------------------------------------------------

manifests="${MANIFESTS:-manifests/k8s/overlays/development}"
if [ "$manifests" = - ]; then
  source_name="rendered YAML on stdin"
  cat >"$work/base.yaml"
elif [ -d "$manifests" ]; then
  source_name="$manifests (kubectl kustomize)"
  "$kubectl" kustomize "$manifests" >"$work/base.yaml"
elif [ -f "$manifests" ]; then
  source_name="$manifests"
  cp "$manifests" "$work/base.yaml"
else
  echo "MANIFESTS=$manifests: no such directory or file" >&2
  exit 1
fi
if grep -q '{{' "$work/base.yaml"; then
  echo "the manifests hold '{{', which helm would read as a template; cannot make a chart of them" >&2
  exit 1
fi
objects=$(grep -c '^kind:' "$work/base.yaml" || true)
say "manifests: $source_name, $objects objects"

# The images the pipeline sets (k8s-apply --set-image) and the chart holds, at TAG.
with_tag() { # TAG: base.yaml with web and api at TAG
  sed -E "s#(docker\.io/cloudtolocalllm/(web|api)):[A-Za-z0-9_.-]+#\1:$1#g" "$work/base.yaml"
}
chart() { # DIR TAG: a chart whose one template is the rendered set at TAG
  mkdir -p "$1/templates"
  printf 'apiVersion: v2\nname: cloudtolocalllm\nversion: 0.1.0\nappVersion: "%s"\n' "$2" >"$1/Chart.yaml"
  with_tag "$2" >"$1/templates/all.yaml"
}
chart "$work/chart-good" "$good"
chart "$work/chart-bad" "$bad"
chart "$work/chart-new" "$new"
set_images() { # TAG: the pipeline's --set-image flags
  printf -- '--set-image\nweb=docker.io/cloudtolocalllm/web:%s\n--set-image\napi=docker.io/cloudtolocalllm/api:%s\n' "$1" "$1"
}
mapfile -t set_good < <(set_images "$good")
mapfile -t set_bad < <(set_images "$bad")
mapfile -t set_new < <(set_images "$new")
workloads=$(python3 -c '
import sys, yaml
for doc in yaml.safe_load_all(sys.stdin):
    if doc and doc.get("kind") in ("Deployment", "StatefulSet"):
        print(doc["kind"].lower() + "/" + doc["metadata"]["name"])' <"$work/base.yaml")
[ -n "$workloads" ] || { echo "the manifests hold no Deployment or StatefulSet to wait for" >&2; exit 1; }
external_secret=""
if grep -q '^kind: ExternalSecret' "$work/base.yaml"; then
  [ -d manifests/k8s/local ] || { echo "an ExternalSecret needs its CRD, manifests/k8s/local" >&2; exit 1; }
  external_secret=yes
fi

# --- one simulator per tool and run ------------------------------------------------------------
printf 'pace: %s\nfaults:\n  latencyMs: %s\n' "$pace" "$latency" >"$work/scenario.yaml"
# The same, but an Ingress (or LoadBalancer Service) gets its address as soon as it is created.
{ cat "$work/scenario.yaml"; printf 'loadBalancerDelaySeconds: 0\n'; } >"$work/scenario-lb0.yaml"
start_sim() { # DIR [SCENARIO]
  mkdir -p "$1/home"
  : >"$1/requests.jsonl"
  "$kube_sim" serve --scenario "${2:-$work/scenario.yaml}" --kubeconfig-out "$1/kubeconfig" \
    --request-log "$1/requests.jsonl" >"$1/sim.json" 2>"$1/sim.log" &
  sim_pid=$!
  for _ in $(seq 200); do
    [ -s "$1/sim.json" ] && { add_ons "$1"; return 0; }
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.05
  done
  cat "$1/sim.log" >&2
  echo "kube-sim did not start" >&2
  exit 1
}

# add_ons DIR: what a real cluster would hold before the app's first deploy (untimed): the
# ExternalSecret CRD and the Secret its operator makes, in the namespace, which carries helm's
# ownership marks so that the chart's Namespace object adopts it rather than failing.
add_ons() {
  [ -n "$external_secret" ] || return 0
  local kc=(env KUBECONFIG="$1/kubeconfig" "$kubectl")
  "$kubectl" kustomize manifests/k8s/local | KUBECONFIG="$1/kubeconfig" "$k8s_apply" -f - >/dev/null 2>&1
  "${kc[@]}" create namespace "$namespace" >/dev/null
  "${kc[@]}" label namespace "$namespace" app.kubernetes.io/managed-by=Helm >/dev/null
  "${kc[@]}" annotate namespace "$namespace" meta.helm.sh/release-name="$release" \
    meta.helm.sh/release-namespace=default >/dev/null
  "${kc[@]}" create secret generic cloudtolocalllm-database -n "$namespace" \
    --from-literal=POSTGRES_USER=cloudtolocalllm --from-literal=POSTGRES_DB=cloudtolocalllm \
    --from-literal=POSTGRES_PASSWORD=bench-only-not-a-secret >/dev/null
}

# bash's own clock: no fork on the timed path.
now_us() { echo "${EPOCHREALTIME/./}"; }
# timed NAME CMD…: runs CMD, appends its milliseconds to $work/NAME.ms and the request-log lines
# it caused to $work/NAME.requests (one "count critical-path" line per run). Returns CMD's status.
timed() {
  local name=$1 dir=$2 before start end status=0
  shift 2
  before=$(wc -l <"$dir/requests.jsonl")
  start=$(now_us)
  "$@" || status=$?
  end=$(now_us)
  echo $(((end - start) / 1000)) >>"$work/$name.ms"
  tail -n +"$((before + 1))" "$dir/requests.jsonl" | critical_path >>"$work/$name.requests"
  return "$status"
}
# "COUNT CRITICAL" of the request-log lines on stdin: the longest chain of requests each sent
# after the one before it was answered.
critical_path() {
  python3 -c '
import json, sys
reqs = sorted((json.loads(l) for l in sys.stdin if l.strip()), key=lambda r: r["startUs"])
depth = []
for i, r in enumerate(reqs):
    depth.append(1 + max((d for q, d in zip(reqs[:i], depth) if q["endUs"] <= r["startUs"]), default=0))
print(len(reqs), max(depth, default=0))'
}

# healthy DIR TAG: every workload ready, web and api at TAG (exit 1 with what is wrong otherwise)
healthy() {
  local dir=$1 tag=$2 w image ready want
  for w in $workloads; do
    read -r image ready want < <(KUBECONFIG="$dir/kubeconfig" "$kubectl" get -n "$namespace" "$w" \
      -o jsonpath='{.spec.template.spec.containers[0].image} {.status.readyReplicas} {.spec.replicas}{"\n"}')
    if [ "${ready:-0}" != "$want" ]; then
      echo "$w: ${ready:-0} of $want ready" >&2
      return 1
    fi
    case "$image" in
      docker.io/cloudtolocalllm/*:*) [ "${image##*:}" = "$tag" ] || { echo "$w: image $image, not :$tag" >&2; return 1; } ;;
    esac
  done
}

# The two pipelines, as commands of their own so that `timed` can run them.
ours_deploy() { # DIR TAG-FLAGS…
  local dir=$1
  shift
  KUBECONFIG="$dir/kubeconfig" "$k8s_apply" -f "$work/base.yaml" --release "$release" -n "$namespace" \
    --env "$environment" "$@" 2>>"$dir/ours.log" |
    KUBECONFIG="$dir/kubeconfig" "$rollout_wait" --timeout 5m >/dev/null 2>>"$dir/ours.log"
}
ours_rollback() {
  KUBECONFIG="$1/kubeconfig" "$k8s_apply" rollback --release "$release" -n "$namespace" \
    --env "$environment" 2>>"$1/ours.log" |
    KUBECONFIG="$1/kubeconfig" "$rollout_wait" --timeout 5m >/dev/null 2>>"$1/ours.log"
}
ours_broken() { # the pipeline: deploy, and on failure roll back (exits 1, as scripts/deploy.sh)
  ours_deploy "$1" "${set_bad[@]}" || { ours_rollback "$1" || true; return 1; }
}
helm_env() { # DIR CMD…
  local dir=$1
  shift
  env KUBECONFIG="$dir/kubeconfig" HELM_CACHE_HOME="$dir/home/cache" HELM_CONFIG_HOME="$dir/home/config" \
    HELM_DATA_HOME="$dir/home/data" "$@"
}
helm_deploy() { # DIR [CHART]
  helm_env "$1" "$helm" upgrade --install "$release" "${2:-$work/chart-good}" --namespace default \
    --wait --timeout 5m >/dev/null 2>>"$1/helm.log"
}
helm_broken() {
  helm_env "$1" "$helm" upgrade "$release" "$work/chart-bad" --namespace default \
    --wait --rollback-on-failure --timeout "$helm_timeout" >/dev/null 2>>"$1/helm.log"
}

fail_run() { # DIR WHAT
  echo "$2; the last lines of its logs:" >&2
  tail -n 15 "$1"/*.log >&2 || true
  exit 1
}

init_ours() { # DIR
  KUBECONFIG="$1/kubeconfig" "$k8s_apply" init-cluster --env "$environment" >/dev/null 2>&1
}
run_ours() { # RUN
  local dir="$work/ours-$1"
  start_sim "$dir"
  export PIPEWRIGHT_LOCK_HOLDER="bench-run-$1"
  init_ours "$dir"
  timed ours-deploy "$dir" ours_deploy "$dir" "${set_good[@]}" || fail_run "$dir" "ours, run $1: the deploy failed"
  healthy "$dir" "$good" || fail_run "$dir" "ours, run $1: not healthy after the deploy"
  if timed ours-broken "$dir" ours_broken "$dir"; then
    fail_run "$dir" "ours, run $1: the broken deploy succeeded"
  fi
  healthy "$dir" "$good" || fail_run "$dir" "ours, run $1: not healthy at $good after the rollback"
  stop_sim

  dir="$work/ours-$1-upgrade"
  start_sim "$dir"
  init_ours "$dir"
  ours_deploy "$dir" "${set_good[@]}" || fail_run "$dir" "ours, run $1: the (untimed) deploy before the upgrade failed"
  healthy "$dir" "$good" || fail_run "$dir" "ours, run $1: not healthy before the upgrade"
  timed ours-upgrade "$dir" ours_deploy "$dir" "${set_new[@]}" || fail_run "$dir" "ours, run $1: the upgrade failed"
  healthy "$dir" "$new" || fail_run "$dir" "ours, run $1: not healthy at $new after the upgrade"
  stop_sim

  dir="$work/ours-$1-lb0"
  start_sim "$dir" "$work/scenario-lb0.yaml"
  init_ours "$dir"
  timed ours-deploy-lb0 "$dir" ours_deploy "$dir" "${set_good[@]}" || fail_run "$dir" "ours, run $1: the deploy (no load balancer delay) failed"
  healthy "$dir" "$good" || fail_run "$dir" "ours, run $1: not healthy after the deploy (no load balancer delay)"
  stop_sim
}
run_helm() { # RUN
  local dir="$work/helm-$1"
  start_sim "$dir"
  timed helm-deploy "$dir" helm_deploy "$dir" || fail_run "$dir" "helm, run $1: the install failed"
  healthy "$dir" "$good" || fail_run "$dir" "helm, run $1: not healthy after the install"
  if timed helm-broken "$dir" helm_broken "$dir"; then
    fail_run "$dir" "helm, run $1: the broken upgrade succeeded"
  fi
  healthy "$dir" "$good" || fail_run "$dir" "helm, run $1: not healthy at $good after the rollback"
  stop_sim

  dir="$work/helm-$1-upgrade"
  start_sim "$dir"
  helm_deploy "$dir" || fail_run "$dir" "helm, run $1: the (untimed) install before the upgrade failed"
  healthy "$dir" "$good" || fail_run "$dir" "helm, run $1: not healthy before the upgrade"
  timed helm-upgrade "$dir" helm_deploy "$dir" "$work/chart-new" || fail_run "$dir" "helm, run $1: the upgrade failed"
  healthy "$dir" "$new" || fail_run "$dir" "helm, run $1: not healthy at $new after the upgrade"
  stop_sim

  dir="$work/helm-$1-lb0"
  start_sim "$dir" "$work/scenario-lb0.yaml"
  timed helm-deploy-lb0 "$dir" helm_deploy "$dir" || fail_run "$dir" "helm, run $1: the install (no load balancer delay) failed"
  healthy "$dir" "$good" || fail_run "$dir" "helm, run $1: not healthy after the install (no load balancer delay)"
  stop_sim
}

say "kube-sim adding ${latency} ms to every request; helm $("$helm" version --short 2>/dev/null); $runs runs each"
for i in $(seq "$runs"); do
  # Alternating who goes first, so neither always runs on the warmer (or busier) machine.
  if [ $((i % 2)) = 1 ]; then run_ours "$i"; run_helm "$i"; else run_helm "$i"; run_ours "$i"; fi
  say "run $i (a, b, c, a with no load balancer delay): ours" \
    "$(tail -1 "$work/ours-deploy.ms"), $(tail -1 "$work/ours-broken.ms"), $(tail -1 "$work/ours-upgrade.ms"), $(tail -1 "$work/ours-deploy-lb0.ms") ms;" \
    "helm $(tail -1 "$work/helm-deploy.ms"), $(tail -1 "$work/helm-broken.ms"), $(tail -1 "$work/helm-upgrade.ms"), $(tail -1 "$work/helm-deploy-lb0.ms") ms"
done

# --- the report --------------------------------------------------------------------------------
stats() { # NAME: "median min max" in ms
  sort -n "$work/$1.ms" | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.0f %d %d\n", m, a[1], a[NR] }'
}
requests() { # NAME: "count critical" of the median run by count (they barely vary)
  sort -n "$work/$1.requests" | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'
}
read -r od od_lo od_hi < <(stats ours-deploy)
read -r hd hd_lo hd_hi < <(stats helm-deploy)
read -r ob ob_lo ob_hi < <(stats ours-broken)
read -r hb hb_lo hb_hi < <(stats helm-broken)
read -r odq odc < <(requests ours-deploy)
read -r hdq hdc < <(requests helm-deploy)
read -r obq obc < <(requests ours-broken)
read -r hbq hbc < <(requests helm-broken)
read -r ou ou_lo ou_hi < <(stats ours-upgrade)
read -r hu hu_lo hu_hi < <(stats helm-upgrade)
read -r oz oz_lo oz_hi < <(stats ours-deploy-lb0)
read -r hz hz_lo hz_hi < <(stats helm-deploy-lb0)
read -r ouq ouc < <(requests ours-upgrade)
read -r huq huc < <(requests helm-upgrade)
read -r ozq ozc < <(requests ours-deploy-lb0)
read -r hzq hzc < <(requests helm-deploy-lb0)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "MISSED"; fi; }
rd=$(ratio "$hd" "$od")
rb=$(ratio "$hb" "$ob")
ru=$(ratio "$hu" "$ou")
rz=$(ratio "$hz" "$oz")
helm_version=$("$helm" version --short 2>/dev/null || echo "?")

cat <<EOF
### Against helm

\`scripts/bench/pipeline.sh $runs\`: $source_name ($objects objects) on \`kube-sim serve\` adding
${latency} ms to every request, pace $pace (a pod is ready about $(awk -v p="$pace" 'BEGIN { printf "%g", 1 / p }') s after it starts), a fresh
simulator for each tool and run; release builds; helm $helm_version; $(nproc) CPUs
($(uname -sr)), $(date -u +%Y-%m-%d). Milliseconds, median of $runs runs (min–max).

| | ours | helm | helm / ours |
| --- | ---: | ---: | ---: |
| (a) deploy, nothing to every workload ready | $od ($od_lo–$od_hi) | $hd ($hd_lo–$hd_hi) | ${rd}x |
| (b) broken image, until healthy again at the old version | $ob ($ob_lo–$ob_hi) | $hb ($hb_lo–$hb_hi) | ${rb}x |
| (c) upgrade of a healthy release to a new image tag, until every workload is ready at it | $ou ($ou_lo–$ou_hi) | $hu ($hu_lo–$hu_hi) | ${ru}x |
| (a) with \`loadBalancerDelaySeconds: 0\` (the Ingress's address at once: not what either would meet on EKS) | $oz ($oz_lo–$oz_hi) | $hz ($hz_lo–$hz_hi) | ${rz}x |

- ours (a): \`k8s-apply -f … --release $release -n $namespace --env $environment --set-image web=… --set-image api=… | rollout-wait\`
- ours (b): the same with tag \`$bad\` \`|| k8s-apply rollback --release $release … | rollout-wait\`
- ours (c): the release deployed at \`$good\` and healthy (untimed, a simulator of its own), then (a)'s command with tag \`$new\`
- helm (a): \`helm upgrade --install $release <chart> --wait\`; (b): \`helm upgrade --wait --rollback-on-failure --timeout $helm_timeout\`; (c): (a)'s command with the chart at \`$new\`, after the same untimed install

Requests to the API server, and in brackets how many of them waited one for another (the
critical path: at ${latency} ms each, a floor under the time that is not pod start-up):

| | ours | helm |
| --- | ---: | ---: |
| (a) deploy | $odq ($odc) | $hdq ($hdc) |
| (b) broken image and back | $obq ($obc) | $hbq ($hbc) |
| (c) upgrade to a new tag | $ouq ($ouc) | $huq ($huc) |
| (a) without the load balancer delay | $ozq ($ozc) | $hzq ($hzc) |

- (a) target ours >= 3x faster than helm: $(verdict "$rd >= 3") (${rd}x)
- (b) target ours >= 3x faster than helm: $(verdict "$rb >= 3") (${rb}x; helm's figure is its \`--timeout $helm_timeout\` plus the rollback: helm waits for an image that never pulls until the timeout runs out)
- (c) ours >= 3x faster than helm: $(verdict "$ru >= 3") (${ru}x)
EOF
