package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"testing"
)

// TestMain lets the test binary act as jimmctl when asked to.
func TestMain(m *testing.M) {
	if os.Getenv("JIMMCTL_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"jimmctl"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{name: "no broker", args: []string{"list-controllers"}, wantCode: 1,
			wantStderr: "ERROR no broker configured: run `jimmctl login --url https://...` or set JIMM_URL\n"},
		{name: "unknown command", args: []string{"nope"}, wantCode: 1,
			wantStderr: "ERROR unknown command \"nope\" for \"jimmctl\"\nRun 'jimmctl --help' for usage.\n"},
		{name: "help", args: []string{"--help"}, wantCode: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], tt.args...)
			cmd.Env = []string{"JIMMCTL_TEST_RUN_MAIN=1", "HOME=" + dir, "XDG_CONFIG_HOME=" + dir}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if tt.wantStderr != "" && stderr.String() != tt.wantStderr {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}
