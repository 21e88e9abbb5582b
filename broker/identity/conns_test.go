package identity

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/jujuapi"
)

// TestTrack: tracked connections end with their session (logout,
// expiry) or identity (disabled), once each and no others; an identity's
// connections are bounded; a session that ended is refused.
func TestTrack(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(start)
	s := &Service{conns: newConns(3, clk, slog.New(slog.DiscardHandler))}
	ended := make(chan string, 10)
	track := func(id *Identity, name string) func() {
		t.Helper()
		release, err := s.Track(id, func(reason string) { ended <- name + ": " + reason })
		if err != nil {
			t.Fatalf("Track %s: %v", name, err)
		}
		return release
	}
	want := func(what string, names ...string) {
		t.Helper()
		for range names {
			select {
			case got := <-ended:
				if !strings.Contains(strings.Join(names, "\n"), strings.SplitN(got, ":", 2)[0]) || !strings.Contains(got, what) {
					t.Errorf("ended %q, want one of %v saying %q", got, names, what)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%v not ended (%s)", names, what)
			}
		}
		select {
		case got := <-ended:
			t.Errorf("also ended %q", got)
		case <-time.After(50 * time.Millisecond):
		}
	}
	alice1 := &Identity{Name: "alice", Session: newSession([]byte{1}, start.Add(time.Hour), start)}
	alice2 := &Identity{Name: "alice", Session: newSession([]byte{2}, start.Add(10*time.Minute), start)}
	bob := &Identity{Name: "bob"}

	track(alice1, "a1")
	track(alice1, "a1'")
	track(alice2, "a2")
	if _, err := s.Track(&Identity{Name: "alice"}, func(string) {}); jujuapi.ErrorCode(err) != codeQuotaLimitExceeded ||
		!strings.Contains(err.Error(), `too many connections for user "alice": 3 open`) {
		t.Errorf("alice's fourth connection: %v", err)
	}
	releaseBob := track(bob, "b")

	s.conns.endSession(alice1.Session.Hash, reasonLoggedOut, "logout")
	want("session ended: logged out", "a1", "a1'")
	if _, err := s.Track(alice1, func(string) {}); err == nil || !strings.Contains(err.Error(), "logged out") {
		t.Errorf("Track of a logged-out session: %v", err)
	}

	clk.Advance(10 * time.Minute)
	want("session ended: expired", "a2")

	releaseBob()
	track(bob, "b'")
	s.conns.setDisabled("bob", true)
	want(`identity "bob" was disabled`, "b'")
	if _, err := s.Track(bob, func(string) {}); jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized {
		t.Errorf("Track of a disabled identity: %v", err)
	}
	s.conns.setDisabled("bob", false)
	track(bob, "b''")
}
