package authz_test

import (
	"sync"
	"testing"

	"github.com/jimmbroker/jimm/authz"
)

func TestPasswordCheck(t *testing.T) {
	t.Parallel()
	secret := authz.NewPasswordCheck("correct horse battery staple")
	empty := authz.NewPasswordCheck("")
	tests := []struct {
		name      string
		check     *authz.PasswordCheck
		candidate string
		want      bool
	}{
		{"right password", secret, "correct horse battery staple", true},
		{"wrong password", secret, "correct horse battery stapler", false},
		{"prefix", secret, "correct horse", false},
		{"case differs", secret, "Correct horse battery staple", false},
		{"empty candidate", secret, "", false},
		{"empty configured, empty candidate", empty, "", false},
		{"empty configured, any candidate", empty, "admin", false},
		{"zero value", &authz.PasswordCheck{}, "", false},
		{"nil", nil, "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.check.Check(tt.candidate); got != tt.want {
				t.Errorf("Check(%q) = %v, want %v", tt.candidate, got, tt.want)
			}
		})
	}
}

func TestPasswordCheckConcurrent(t *testing.T) {
	t.Parallel()
	// Concurrent use is safe (run with -race).
	a, b := authz.NewPasswordCheck("pw"), authz.NewPasswordCheck("pw")
	var wg sync.WaitGroup
	for _, c := range []*authz.PasswordCheck{a, b, a} {
		wg.Go(func() {
			if !c.Check("pw") || c.Check("pW") {
				t.Error("concurrent Check gave a wrong answer")
			}
		})
	}
	wg.Wait()
}
