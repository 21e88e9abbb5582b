package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and revision are set at build time, as the Dockerfile does:
//
//	go build -ldflags "-X main.version=1.2.3 -X main.revision=abc123" ./cmd/jimmd
//
// Unset, they come from the build information Go records: the module's
// version (for go install at a version) and the VCS revision.
var version, revision string

// buildVersion returns the version and revision of this build: as set at
// build time, else as Go recorded them, else "devel" and "unknown".
func buildVersion() (v, rev string) {
	v, rev = version, revision
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && rev == "" {
				rev = s.Value
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if rev == "" {
		rev = "unknown"
	}
	return v, rev
}

func versionString() string {
	v, rev := buildVersion()
	return fmt.Sprintf("jimmd %s (revision %s, %s)", v, rev, runtime.Version())
}
