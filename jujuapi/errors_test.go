package jujuapi_test

import (
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
)

// TestHTTPStatus: the statuses Juju's HTTP endpoints answer error codes
// with (apiserver/errors ServerErrorAndStatus), and 503 for "try again".
func TestHTTPStatus(t *testing.T) {
	for code, want := range map[string]int{
		jujuapi.CodeUnauthorized: 401, jujuapi.CodeDischargeRequired: 401,
		jujuapi.CodeNotFound: 404, jujuapi.CodeUserNotFound: 404, jujuapi.CodeModelNotFound: 404,
		jujuapi.CodeBadRequest: 400, jujuapi.CodeOperationBlocked: 400,
		jujuapi.CodeMethodNotAllowed: 405, jujuapi.CodeForbidden: 403, jujuapi.CodeRedirect: 301,
		jujuapi.CodeNotYetAvailable: 409, jujuapi.CodeTryAgain: 503,
		jujuapi.CodeNotImplemented: 500, "": 500, "something else": 500,
	} {
		if got := jujuapi.HTTPStatus(code); got != want {
			t.Errorf("HTTPStatus(%q) = %d, want %d", code, got, want)
		}
	}
}
