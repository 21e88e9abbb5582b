#!/usr/bin/env bash
# Builds the OpenID Connect providers the integration tests run, each from its
# pinned tool module under integration/tools/, into a cache directory keyed by
# the module's go.sum (reused when present), and prints the environment the
# tests read:
#   JIMM_DEX_BIN=...            dex (device flow, browser flow, password DB)
#   JIMM_OIDC_EXAMPLE_BIN=...   the zitadel OIDC example server (client credentials)
# Cache root: $JIMM_TOOLS_CACHE, default $HOME/.cache/jimm-tools.
# Usage: eval "$(bash .ci/tools.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${JIMM_TOOLS_CACHE:-${HOME}/.cache/jimm-tools}

# build NAME MODULE_DIR PACKAGE: prints the binary's path.
build() {
	local name=$1 dir=$2 pkg=$3 hash out
	hash=$(sha256sum "$dir/go.sum" | cut -c1-16)
	out="$cache/$hash/$name"
	if [ ! -x "$out" ]; then
		mkdir -p "$cache/$hash"
		echo "tools: building $name from $pkg (first time for this go.sum; takes a few minutes)" >&2
		(cd "$dir" && go build -o "$out.tmp" "$pkg") >&2
		mv "$out.tmp" "$out"
	fi
	echo "$out"
}

dex=$(build dex integration/tools/dex github.com/dexidp/dex/cmd/dex)
example=$(build zitadel-oidc integration/tools/zitadel github.com/zitadel/oidc/v3/example/server)
echo "JIMM_DEX_BIN=$dex"
echo "JIMM_OIDC_EXAMPLE_BIN=$example"
