#!/usr/bin/env bash
# Deploys CloudToLocalLLM to one environment's EKS cluster: the pipeline the deploy workflow runs,
# and what an engineer runs from a laptop with an AWS profile.
#
#   render          kubectl kustomize manifests/k8s/overlays/ENV (or rendered YAML on stdin)
#   credentials     oidc-creds: GitHub's OIDC token -> STS -> the role (only with AWS_ROLE_ARN;
#                   otherwise the standard AWS chain: environment keys, AWS_PROFILE, SSO, ...)
#   kubeconfig      eks-token kubeconfig (kubectl and the tools authenticate through eks-token)
#   apply + wait    k8s-apply --env ENV --release cloudtolocalllm --set-image ... |
#                   rollout-wait --env ENV
#   rollback        on failure: k8s-apply rollback --env ENV | rollout-wait --env ENV, then exit 1
#   Every step that changes the cluster names ENV: a cluster recorded by `k8s-apply init-cluster`
#   as another environment (or as one at all, when none is named) is refused, nothing changed.
#
# Usage: scripts/deploy.sh ENVIRONMENT
#        helm template app chart/ | MANIFESTS=- scripts/deploy.sh ENVIRONMENT
#
# Variables (all optional but the region, which may also come from the profile):
#   IMAGE_TAG        tag of both images (default: the checkout's commit SHA)
#   IMAGE_REGISTRY   default docker.io/cloudtolocalllm (images REGISTRY/web and REGISTRY/api)
#   AWS_REGION       the cluster's region
#   EKS_CLUSTER      default cloudtolocalllm-ENVIRONMENT
#   AWS_ROLE_ARN     set: assume it with GitHub's OIDC token (oidc-creds); unset: standard chain
#   EKS_SERVER_URL, EKS_CA_FILE   API server URL and CA to use instead of the cluster's (a
#                    private endpoint reached through a tunnel); passed only when set
#   MANIFESTS        a kustomize directory (default manifests/k8s/overlays/ENVIRONMENT), a YAML
#                    file, or - for rendered YAML on stdin (helm template ... | deploy.sh ENV)
#   PIPEWRIGHT_OUT   directory for each stage's JSON document (default pipewright-out/)
#   PIPEWRIGHT_BIN   directory of the pipewright tools (default: found on PATH)
#   KUBECTL          the kubectl that renders overlays (default kubectl)
#   ROLLOUT_TIMEOUT  how long rollout-wait waits (default 8m, so a deploy fits in 10 minutes)
#
# Exit codes: 0 deployed and healthy; 1 the deploy failed (rolled back when anything had been
# applied); 2 bad usage or manifests, nothing changed; 3 AWS or the cluster unreachable or
# refusing the credentials, nothing changed. Credentials and tokens are never printed; they live
# in a private temporary directory removed on exit.
set -euo pipefail

readonly RELEASE=cloudtolocalllm
readonly NAMESPACE=cloudtolocalllm

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

in_actions() { [ "${GITHUB_ACTIONS:-}" = true ]; }
note() { printf 'deploy: %s\n' "$*" >&2; }
fail() {
  if in_actions; then printf '::error::deploy: %s\n' "$*" >&2; else note "error: $*"; fi
}
begin_stage() {
  stage_name=$1
  stage_started=${EPOCHREALTIME/[.,]/}
  if in_actions; then printf '::group::%s\n' "$1" >&2; fi
  note "== $1"
}
# Appends the stage's outcome to $PIPEWRIGHT_OUT/stages.jsonl (the demo's summary reads it).
end_stage() {
  local code=$1 verdict=${2:-}
  local ms=$(((${EPOCHREALTIME/[.,]/} - stage_started) / 1000))
  [ -n "$verdict" ] || { [ "$code" = 0 ] && verdict=ok || verdict=failed; }
  printf '{"stage":"%s","exitCode":%d,"ms":%d,"verdict":"%s"}\n' \
    "$stage_name" "$code" "$ms" "$verdict" >>"$out/stages.jsonl"
  if in_actions; then printf '::endgroup::\n' >&2; fi
  note "   $stage_name: $verdict (exit $code, ${ms} ms)"
}

[ $# -eq 1 ] || usage
case $1 in -h | --help) usage ;; esac
env_name=$1
if ! [[ $env_name =~ ^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$ ]]; then
  fail "environment ${env_name@Q} is not a DNS label (development, staging, production)"
  exit 2
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image_tag=${IMAGE_TAG:-$(git -C "$repo" rev-parse HEAD 2>/dev/null || true)}
if [ -z "$image_tag" ]; then
  fail "no IMAGE_TAG and no git checkout to take the commit SHA from; set IMAGE_TAG"
  exit 2
fi
registry=${IMAGE_REGISTRY:-docker.io/cloudtolocalllm}
cluster=${EKS_CLUSTER:-cloudtolocalllm-$env_name}
manifests=${MANIFESTS:-$repo/manifests/k8s/overlays/$env_name}
out=${PIPEWRIGHT_OUT:-pipewright-out}
kubectl=${KUBECTL:-kubectl}
rollout_timeout=${ROLLOUT_TIMEOUT:-8m}
mkdir -p "$out"
: >"$out/stages.jsonl"

tool() {
  local path
  if [ -n "${PIPEWRIGHT_BIN:-}" ]; then
    path=$PIPEWRIGHT_BIN/$1
    [ -x "$path" ] || { fail "$path is not an executable (PIPEWRIGHT_BIN=$PIPEWRIGHT_BIN)"; exit 2; }
  else
    path=$(command -v "$1") || {
      fail "$1 is not on PATH: install the pipewright tools or set PIPEWRIGHT_BIN"
      exit 2
    }
  fi
  printf '%s\n' "$path"
}
oidc_creds=$(tool oidc-creds)
eks_token=$(tool eks-token)
k8s_apply=$(tool k8s-apply)
rollout_wait=$(tool rollout-wait)

# Credentials, the kubeconfig, the token cache and the rendered manifests live here, 0700, and
# go when the script ends however it ends.
work=$(mktemp -d "${TMPDIR:-/tmp}/pipewright-deploy.XXXXXX")
chmod 0700 "$work"
trap 'rm -rf "$work"' EXIT
# eks-token caches its tokens here rather than in ~/.cache: none outlives the deploy.
export XDG_CACHE_HOME="$work/cache"

note "deploying $registry/{web,api}:$image_tag to $env_name (cluster $cluster), documents in $out/"

# --- render (first: a broken overlay fails before any credential is asked for)
begin_stage render
rendered=$work/manifests.yaml
code=0
if [ "$manifests" = - ]; then
  cat >"$rendered" || code=2
elif [ -f "$manifests/kustomization.yaml" ] || [ -f "$manifests/kustomization.yml" ] || [ -f "$manifests/Kustomization" ]; then
  "$kubectl" kustomize "$manifests" >"$rendered" </dev/null || code=2
elif [ -f "$manifests" ]; then
  cp "$manifests" "$rendered" || code=2
else
  fail "MANIFESTS=$manifests is neither a kustomize directory, a file, nor - (stdin)"
  code=2
fi
if [ "$code" = 0 ] && ! grep -q '[^[:space:]]' "$rendered"; then
  fail "the rendered manifests are empty ($manifests)"
  code=2
fi
end_stage "$code"
[ "$code" = 0 ] || exit 2

# --- credentials
region_args=()
[ -z "${AWS_REGION:-}" ] || region_args=(--region "$AWS_REGION")
begin_stage credentials
if [ -n "${AWS_ROLE_ARN:-}" ]; then
  code=0
  "$oidc_creds" --role-arn "$AWS_ROLE_ARN" "${region_args[@]}" \
    --format env --output-file "$work/aws.env" </dev/null >"$out/oidc-creds.json" || code=$?
  if [ "$code" = 0 ]; then
    # shellcheck disable=SC1091  # written by oidc-creds just now: export lines, shell-quoted
    . "$work/aws.env"
    rm -f "$work/aws.env"
    # The role's session is what this deploy acts as, whatever profile the shell had.
    unset AWS_PROFILE
  fi
  end_stage "$code"
  [ "$code" = 0 ] || exit "$code"
else
  end_stage 0 "standard AWS chain${AWS_PROFILE:+ (profile $AWS_PROFILE)}"
fi

# --- kubeconfig
begin_stage kubeconfig
kube_args=(kubeconfig --cluster "$cluster" "${region_args[@]}" --alias "$env_name"
  --out "$work/kubeconfig" --exec-command "$eks_token")
[ -z "${AWS_PROFILE:-}" ] || kube_args+=(--profile "$AWS_PROFILE")
[ -z "${EKS_SERVER_URL:-}" ] || kube_args+=(--server "$EKS_SERVER_URL")
[ -z "${EKS_CA_FILE:-}" ] || kube_args+=(--certificate-authority "$EKS_CA_FILE")
code=0
"$eks_token" "${kube_args[@]}" </dev/null >"$out/eks-token.json" || code=$?
end_stage "$code"
[ "$code" = 0 ] || exit "$code"
export KUBECONFIG=$work/kubeconfig

# --- apply + wait
cluster_args=(--release "$RELEASE" -n "$NAMESPACE" --env "$env_name")
begin_stage "apply + wait"
set +e
# --expect-tag-for: the check covers the app's own images; PostgreSQL's keeps its pinned tag.
"$k8s_apply" -f "$rendered" "${cluster_args[@]}" \
  --set-image "web=$registry/web:$image_tag" --set-image "api=$registry/api:$image_tag" \
  --expect-tag "$image_tag" --expect-tag-for "$registry/" </dev/null |
  tee "$out/k8s-apply.json" |
  "$rollout_wait" --env "$env_name" --timeout "$rollout_timeout" >"$out/rollout-wait.json"
statuses=("${PIPESTATUS[@]}")
set -e
apply_code=${statuses[0]} wait_code=${statuses[2]}
if [ "$apply_code" = 0 ] && [ "$wait_code" = 0 ]; then
  end_stage 0 healthy
  note "$env_name runs $registry/{web,api}:$image_tag"
  exit 0
fi
end_stage "$((apply_code != 0 ? apply_code : wait_code))" \
  "$([ "$apply_code" != 0 ] && echo "apply failed" || echo unhealthy)"
if [ "$apply_code" = 2 ]; then
  fail "k8s-apply refused the manifests or the environment; nothing was changed (see $out/k8s-apply.json)"
  exit 2
fi
if [ "$apply_code" = 3 ]; then
  fail "the cluster could not be reached; nothing to roll back (see $out/k8s-apply.json)"
  exit 3
fi

# --- rollback
fail "the deploy of $image_tag failed; rolling back to the last healthy revision"
begin_stage rollback
set +e
"$k8s_apply" rollback "${cluster_args[@]}" </dev/null |
  tee "$out/rollback.json" |
  "$rollout_wait" --env "$env_name" --rollback-ok --timeout "$rollout_timeout" \
    >"$out/rollback-rollout-wait.json"
statuses=("${PIPESTATUS[@]}")
set -e
if [ "${statuses[0]}" = 0 ] && [ "${statuses[2]}" = 0 ]; then
  end_stage 0 "rolled back, healthy"
else
  end_stage "$((statuses[0] != 0 ? statuses[0] : statuses[2]))" "rollback failed"
  fail "the rollback did not end healthy: look at $out/rollback.json and $out/rollback-rollout-wait.json"
fi
exit 1
