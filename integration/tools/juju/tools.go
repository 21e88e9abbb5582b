//go:build tools

// Package tools pins the stock juju CLI (Juju 3.5.4) that the integration
// tests run against the broker; .ci/tools.sh builds it.
package tools

import _ "github.com/juju/juju/cmd/juju"
