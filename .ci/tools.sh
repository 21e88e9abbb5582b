#!/usr/bin/env bash
# Builds the tools the integration tests run, each from its pinned tool module
# under integration/tools/, into a cache directory keyed by the module's go.sum
# (reused when present), and prints the environment the tests read:
#   JIMM_DEX_BIN=...            dex (device flow, browser flow, password DB)
#   JIMM_OIDC_EXAMPLE_BIN=...   the zitadel OIDC example server (client credentials)
#   JIMM_JUJU_BIN=...           the stock juju CLI, Juju 3.5.4 (the first build
#                               takes several minutes and a few GB of memory)
#   JIMM_JUJULIB_DIR=...        a Node project directory whose node_modules hold
#                               @canonical/jujulib, the Juju dashboard's API
#                               client (npm ci of integration/tools/jujulib,
#                               keyed by its package-lock.json; needs node and npm)
#   JIMM_HELM_BIN=...           helm 4 (the chart tests: lint and template of
#                               charts/jimm)
# Cache root: $JIMM_TOOLS_CACHE, default $HOME/.cache/jimm-tools.
# Usage: eval "$(bash .ci/tools.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${JIMM_TOOLS_CACHE:-${HOME}/.cache/jimm-tools}

# build NAME MODULE_DIR PACKAGE [ENV=VALUE...]: prints the binary's path; the
# optional assignments are the build's environment (e.g. CGO_ENABLED=0).
build() {
	local name=$1 dir=$2 pkg=$3 hash out
	shift 3
	hash=$(sha256sum "$dir/go.sum" | cut -c1-16)
	out="$cache/$hash/$name"
	if [ ! -x "$out" ]; then
		mkdir -p "$cache/$hash"
		echo "tools: building $name from $pkg (first time for this go.sum; takes a few minutes)" >&2
		(cd "$dir" && env "$@" go build -o "$out.tmp" "$pkg") >&2
		mv "$out.tmp" "$out"
	fi
	echo "$out"
}

# npm_install NAME DIR: installs the Node packages DIR's package-lock.json pins
# (npm ci: exact versions, no install scripts) into a cache directory keyed
# by that file, and prints the directory (its node_modules beside copies of
# package.json and package-lock.json). Once installed, npm is not run again.
npm_install() {
	local name=$1 dir=$2 hash out
	hash=$(sha256sum "$dir/package-lock.json" | cut -c1-16)
	out="$cache/$hash/$name"
	if [ ! -e "$out/.installed" ]; then
		command -v npm >/dev/null || { echo "tools: $name needs npm (and node), which are not installed" >&2; exit 1; }
		echo "tools: installing $name with npm ci (first time for this package-lock.json)" >&2
		rm -rf "$out.tmp"
		mkdir -p "$out.tmp"
		cp "$dir/package.json" "$dir/package-lock.json" "$out.tmp/"
		(cd "$out.tmp" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >&2
		touch "$out.tmp/.installed"
		rm -rf "$out"
		mv "$out.tmp" "$out"
	fi
	echo "$out"
}

dex=$(build dex integration/tools/dex github.com/dexidp/dex/cmd/dex)
example=$(build zitadel-oidc integration/tools/zitadel github.com/zitadel/oidc/v3/example/server)
juju=$(build juju integration/tools/juju github.com/juju/juju/cmd/juju CGO_ENABLED=0)
jujulib=$(npm_install jujulib integration/tools/jujulib)
helm=$(build helm integration/tools/helm helm.sh/helm/v4/cmd/helm CGO_ENABLED=0)
echo "JIMM_DEX_BIN=$dex"
echo "JIMM_OIDC_EXAMPLE_BIN=$example"
echo "JIMM_JUJU_BIN=$juju"
echo "JIMM_JUJULIB_DIR=$jujulib"
echo "JIMM_HELM_BIN=$helm"
