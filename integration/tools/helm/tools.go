//go:build tools

// Package tools pins helm, which the chart tests run (lint and template).
package tools

import _ "helm.sh/helm/v4/cmd/helm"
