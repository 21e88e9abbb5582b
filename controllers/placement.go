package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// Candidate is what placement knows of one controller.
type Candidate struct {
	Name         string
	Cloud        string
	CloudType    string
	Regions      []string
	Up           bool
	Deprecated   bool
	Priority     int
	AgentVersion string
}

// Place returns the names of the controllers eligible for a new model, in
// the order to try them. A controller is eligible when it hosts cloud (any
// cloud when cloud is "") and region (any region when region is ""), is
// up, is not deprecated, and, when minVersion is set, runs at least that
// Juju version (an unparsable version, the candidate's or minVersion, is
// not eligible). Higher priorities come first; within a priority the order
// is uniformly random, drawn from rnd (the global source when rnd is nil).
// None eligible gives an empty result.
func Place(cands []Candidate, cloud, region, minVersion string, rnd *rand.Rand) []string {
	var floor Version
	if minVersion != "" {
		var err error
		if floor, err = ParseVersion(minVersion); err != nil {
			return nil
		}
	}
	var ok []Candidate
	for _, c := range cands {
		switch {
		case !c.Up, c.Deprecated:
		case cloud != "" && c.Cloud != cloud:
		case region != "" && !slices.Contains(c.Regions, region):
		case minVersion != "" && !atLeast(c.AgentVersion, floor):
		default:
			ok = append(ok, c)
		}
	}
	// A fixed order first, so that the result depends only on rnd.
	slices.SortFunc(ok, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.Name, b.Name))
	})
	shuffle := rand.Shuffle
	if rnd != nil {
		shuffle = rnd.Shuffle
	}
	for i := 0; i < len(ok); {
		j := i + 1
		for j < len(ok) && ok[j].Priority == ok[i].Priority {
			j++
		}
		tier := ok[i:j]
		shuffle(len(tier), func(a, b int) { tier[a], tier[b] = tier[b], tier[a] })
		i = j
	}
	names := make([]string, len(ok))
	for i, c := range ok {
		names[i] = c.Name
	}
	return names
}

func atLeast(v string, floor Version) bool {
	got, err := ParseVersion(v)
	return err == nil && got.Compare(floor) >= 0
}

// Version is a Juju version number: major.minor.patch, an optional build
// ("3.5.4.1"), or a pre-release tag ("3.6-beta2": tag "beta", patch 2).
type Version struct {
	Major, Minor int
	Tag          string
	Patch, Build int
}

// ParseVersion parses "major.minor[.patch[.build]]" or
// "major.minor-<tag><patch>[.build]".
func ParseVersion(s string) (Version, error) {
	bad := fmt.Errorf("%q is not a Juju version (major.minor.patch)", s)
	var v Version
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return v, bad
	}
	num := func(p string) (int, bool) {
		if p == "" || strings.TrimLeft(p, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.Atoi(p)
		return n, err == nil
	}
	var ok bool
	if v.Major, ok = num(parts[0]); !ok {
		return v, bad
	}
	minor, tagged, hasTag := strings.Cut(parts[1], "-")
	if v.Minor, ok = num(minor); !ok {
		return v, bad
	}
	rest := parts[2:]
	if hasTag {
		// major.minor-tagN[.build]
		i := strings.IndexAny(tagged, "0123456789")
		if i <= 0 || len(rest) > 1 {
			return v, bad
		}
		v.Tag = tagged[:i]
		if strings.Trim(v.Tag, "abcdefghijklmnopqrstuvwxyz") != "" {
			return v, bad
		}
		if v.Patch, ok = num(tagged[i:]); !ok {
			return v, bad
		}
	} else if len(rest) > 0 {
		if v.Patch, ok = num(rest[0]); !ok {
			return v, bad
		}
		rest = rest[1:]
	}
	if len(rest) == 1 {
		if v.Build, ok = num(rest[0]); !ok {
			return v, bad
		}
	} else if len(rest) > 1 {
		return v, bad
	}
	return v, nil
}

// Compare returns -1, 0 or 1 as v is older than, the same as, or newer than
// w. As in Juju, a pre-release sorts before the release of the same
// major.minor.
func (v Version) Compare(w Version) int {
	tag := func(t string) int {
		if t == "" {
			return 1
		}
		return 0
	}
	if c := cmp.Or(cmp.Compare(v.Major, w.Major), cmp.Compare(v.Minor, w.Minor)); c != 0 {
		return c
	}
	if v.Tag != w.Tag {
		if c := cmp.Compare(tag(v.Tag), tag(w.Tag)); c != 0 {
			return c
		}
		return cmp.Compare(v.Tag, w.Tag) // alpha < beta < rc
	}
	return cmp.Or(cmp.Compare(v.Patch, w.Patch), cmp.Compare(v.Build, w.Build))
}

func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Tag != "" {
		s = fmt.Sprintf("%d.%d-%s%d", v.Major, v.Minor, v.Tag, v.Patch)
	}
	if v.Build != 0 {
		s += "." + strconv.Itoa(v.Build)
	}
	return s
}

// controllerFaultCodes are the error codes that mean the controller, not
// the request, is at fault. Any other code is the request's.
var controllerFaultCodes = map[string]bool{
	"":                              true, // an internal error
	jujuapi.CodeTryAgain:            true,
	jujuapi.CodeUpgradeInProgress:   true,
	jujuapi.CodeDeadlineExceeded:    true,
	jujuapi.CodeNotYetAvailable:     true,
	jujuapi.CodeNotImplemented:      true, // the controller lacks the call
	jujuapi.CodeOperationBlocked:    true, // its admins blocked changes
	jujuapi.CodeLoginExpired:        true, // the broker's login, not the caller's
	jujuapi.CodeSessionTokenInvalid: true,
	jujuapi.CodeDischargeRequired:   true,
}

// IsControllerFault reports whether a failed call (typically CreateModel)
// failed because of the controller — it could not be reached or logged in
// to, the connection broke, it did not answer in time, it is upgrading or
// busy, it failed internally without an error code — so that another
// controller may succeed, as opposed to the request itself being refused
// ("already exists", "not valid", "unauthorized access", "not found",
// "bad request"...), which another controller would refuse too. A context
// cancelled by the caller is not the controller's fault; a deadline that
// expired is.
//
// A CreateModel that timed out or lost its connection may still have
// created the model: before trying the next controller, look for the
// model by name on this one (ListModelSummaries) and destroy it.
func IsControllerFault(err error) bool {
	if err == nil {
		return false
	}
	// The broker's own database failed (reading the controller's record,
	// a credential, a default): no controller is at fault.
	var dbErr *db.Error
	if errors.Is(err, db.ErrUnavailable) || errors.As(err, &dbErr) {
		return false
	}
	var ce *ConnectError
	if errors.As(err, &ce) {
		// The broker's own credentials or record of the controller failed,
		// whatever the code (a rejected token is "unauthorized access").
		return !errors.Is(err, context.Canceled)
	}
	var je *jujuapi.Error
	if errors.As(err, &je) {
		return controllerFaultCodes[je.Code]
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	// Dial failures, broken connections, deadlines, undecodable answers.
	return true
}
