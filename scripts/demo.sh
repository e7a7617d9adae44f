#!/usr/bin/env bash
# The main job on this machine: the real deploy pipeline (scripts/deploy.sh, as the deploy
# workflow runs it) against stand-ins on loopback:
#   - moto as AWS (the EKS cluster, the deploy role, STS),
#   - kube-sim as the cluster's API server, in EKS-token mode (it accepts only eks-token's tokens,
#     verified with moto's STS),
#   - a GitHub OIDC token service handing out signed JWTs (ACTIONS_ID_TOKEN_REQUEST_URL).
# Then a deploy of an image that cannot be pulled: it fails within seconds, is rolled back, and
# the release is healthy again at the first version. Ends with a summary; leaves nothing running.
#
# Usage: scripts/demo.sh [--keep] [--no-build]
#   --keep      leave the bed running and print the `export KUBECONFIG=…` line to explore it
#   --no-build  use the binaries in $PIPEWRIGHT_BIN (default: the release build) without building
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

keep=false
build=true
for arg in "$@"; do
  case $arg in
    --keep) keep=true ;;
    --no-build) build=false ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument ${arg@Q} (try --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
[ -z "${NO_COLOR:-}" ] && [ -t 2 ] || step() { printf '\n==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# --- what the demo needs, installed as scripts/test.sh installs it
# shellcheck source=scripts/lib/clients.sh
. scripts/lib/clients.sh
cache="${XDG_CACHE_HOME:-$HOME/.cache}/pipewright"
step "system packages"
missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v git >/dev/null || missing+=(git)
if ! command -v kubectl >/dev/null && ! clients_work; then
  command -v npm >/dev/null || missing+=(npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing from Debian: ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v kubectl >/dev/null; then
  install_kubectl_layer
  ensure_kubectl_on_path
fi
echo "kubectl: $(command -v kubectl)" >&2

# --- the tools, in release (a persistent target directory, as scripts/test.sh picks it)
if $build; then
  checkout_key=$(pwd -P | sha256sum | cut -c1-12)
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target-$checkout_key}"
  step "building the tools (cargo build --release; the first build takes a while)"
  cargo build --release --locked --bins \
    -p oidc-creds -p eks-token -p k8s-apply -p rollout-wait -p kube-sim -p testbed
  export PIPEWRIGHT_BIN="$CARGO_TARGET_DIR/release"
fi
: "${PIPEWRIGHT_BIN:?--no-build needs PIPEWRIGHT_BIN, the directory of the built tools}"
export PIPEWRIGHT_BIN
bin=$PIPEWRIGHT_BIN
after_build=$SECONDS

step "Python venv with moto (cached under $cache)"
"$bin/testbed" prepare

# --- the bed
state=$(mktemp -d "${TMPDIR:-/tmp}/pipewright-demo.XXXXXX")
chmod 0700 "$state"
bed_pid=
cleanup() {
  local code=$?
  if [ -n "$bed_pid" ] && ! $keep; then
    kill -TERM "$bed_pid" 2>/dev/null || true
    wait "$bed_pid" 2>/dev/null || true
  fi
  $keep || rm -rf "$state"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "starting the bed: moto (AWS), kube-sim (EKS API, EKS-token auth), GitHub OIDC stand-in"
"$bin/testbed" bed --dir "$state/bed" >"$state/bed.ready" 2>"$state/bed.log" &
bed_pid=$!
deadline=$((SECONDS + 90))
until [ -s "$state/bed.ready" ]; do
  if ! kill -0 "$bed_pid" 2>/dev/null; then
    cat "$state/bed.log" >&2
    echo "demo: the bed did not start" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    cat "$state/bed.log" >&2
    echo "demo: the bed was not ready within 90 s" >&2
    exit 1
  fi
  sleep 0.2
done
tail -n 1 "$state/bed.log" >&2
# shellcheck disable=SC1091  # written by testbed: the variables a deploy job has
. "$state/bed/env"

# --- once per cluster, by an operator (here: the profile with moto's static keys)
step "operator: kubeconfig, k8s-apply init-cluster --env development, the app's Secret"
operator() { env -u AWS_ROLE_ARN AWS_PROFILE=operator "$@"; }
operator "$bin/eks-token" kubeconfig --cluster "$EKS_CLUSTER" --alias development \
  --out "$state/kubeconfig" --exec-command "$bin/eks-token" </dev/null >/dev/null
export KUBECONFIG="$state/kubeconfig"
operator "$bin/k8s-apply" init-cluster --env development </dev/null >/dev/null
# What a real cluster's add-ons provide and kube-sim lacks: the ExternalSecret CRD.
kubectl kustomize manifests/k8s/local | operator "$bin/k8s-apply" -f - --env development >/dev/null
# The Secret the app reads: what the External Secrets operator creates from AWS Secrets Manager
# (manifests/k8s/README.md, "Secrets"). The password is made here and never printed.
db_password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
operator kubectl create namespace cloudtolocalllm --dry-run=client -o yaml | operator kubectl apply -f - >/dev/null
operator kubectl -n cloudtolocalllm create secret generic cloudtolocalllm-database \
  --from-literal=POSTGRES_USER=cloudtolocalllm --from-literal=POSTGRES_DB=cloudtolocalllm \
  --from-literal=POSTGRES_PASSWORD="$db_password" \
  --dry-run=client -o yaml | operator kubectl apply -f - >/dev/null
unset db_password
echo "cluster $EKS_CLUSTER recorded as development; ExternalSecret CRD applied; secret/cloudtolocalllm-database created" >&2

# --- the pipeline, exactly as the workflow runs it
sha=$(git rev-parse HEAD 2>/dev/null || echo 0123456789abcdef0123456789abcdef01234567)
out=$state/out
run_deploy() {
  local name=$1 tag=$2 code=0
  IMAGE_TAG=$tag PIPEWRIGHT_OUT=$out/$name scripts/deploy.sh development </dev/null || code=$?
  return "$code"
}
step "deploy 1: scripts/deploy.sh development (IMAGE_TAG=$sha)"
t0=$SECONDS
first=0
run_deploy 1-commit "$sha" || first=$?
first_secs=$((SECONDS - t0))
[ "$first" = 0 ] || { echo "demo: the first deploy failed (exit $first)" >&2; exit 1; }

step "deploy 2: an image that cannot be pulled (IMAGE_TAG=pull-error): expect failure, rollback, exit 1"
t0=$SECONDS
second=0
run_deploy 2-pull-error pull-error || second=$?
second_secs=$((SECONDS - t0))

# --- is the release healthy again at the first version?
"$bin/k8s-apply" history --release cloudtolocalllm -n cloudtolocalllm </dev/null >"$state/history.json" 2>/dev/null
live_images=$(kubectl -n cloudtolocalllm get deployments web api \
  -o jsonpath='{range .items[*]}{.spec.template.spec.containers[0].image}{"\n"}{end}')
verdict=ok
[ "$second" = 1 ] || { verdict=failed; echo "demo: the broken deploy exited $second, not 1" >&2; }
if grep -v ":$sha\$" <<<"$live_images" | grep -q .; then
  verdict=failed
  echo "demo: web/api are not back at $sha: $live_images" >&2
fi

# --- summary
step "summary"
python3 - "$out" "$state/history.json" "$first_secs" "$second_secs" "$second" <<'EOF'
import json, pathlib, sys
out, history, first_secs, second_secs, second = sys.argv[1:]
runs = [("deploy 1: the commit", "1-commit", first_secs, "exit 0"),
        ("deploy 2: pull-error", "2-pull-error", second_secs, f"exit {second}")]
for title, name, secs, code in runs:
    print(f"{title}  ({secs} s, deploy.sh {code})")
    for line in (pathlib.Path(out) / name / "stages.jsonl").read_text().splitlines():
        s = json.loads(line)
        print(f"  {s['stage']:<14} {s['ms']/1000:>6.1f} s   {s['verdict']}")
    wait = pathlib.Path(out) / name / "rollout-wait.json"
    if name != "1-commit" and wait.exists():
        doc = json.loads(wait.read_text() or "{}")
        err = (doc.get("error") or {}).get("message", "")
        if err:
            print(f"  why: {err[:220]}")
print()
print("release cloudtolocalllm (k8s-apply history):")
doc = json.loads(pathlib.Path(history).read_text())
for r in doc.get("revisions", []):
    images = []
    for i in r.get("images", []):
        ref = (i.get("image", "") if isinstance(i, dict) else str(i)).rsplit("/", 1)[-1]
        name, _, tag = ref.partition(":")
        images.append(f"{name}:{tag[:12] if len(tag) == 40 else tag}")
    images = " ".join(sorted(set(images)))
    src = f" (rollback of {r['sourceRevision']})" if r.get("sourceRevision") else ""
    print(f"  {r.get('revision'):>3}  {r.get('status', ''):<10} {images[:90]}{src}")
EOF
echo >&2
echo "live images: $(tr '\n' ' ' <<<"$live_images")" >&2
echo "demo: $verdict; ${SECONDS}s in all, $((SECONDS - after_build))s after the build" >&2

if $keep; then
  echo
  echo "The bed is still running (testbed pid $bed_pid). To explore it:"
  echo "  . $state/bed/env && export AWS_PROFILE=operator"
  echo "  export KUBECONFIG=$state/kubeconfig"
  echo "  kubectl -n cloudtolocalllm get pods"
  echo "To stop it: kill $bed_pid && rm -rf $state"
fi
[ "$verdict" = ok ]
