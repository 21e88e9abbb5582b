//go:build tools

// Package tools pins the dex identity provider the integration tests run.
package tools

import _ "github.com/dexidp/dex/cmd/dex"
