//go:build tools

// Package tools pins the OIDC example server (it has the client-credentials grant) the integration tests run.
package tools

import _ "github.com/zitadel/oidc/v3/example/server"
