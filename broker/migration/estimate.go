package migration

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Juju's defaults for the agent login settings.
const (
	DefaultRateLimitMax  = 10
	DefaultRateLimitRate = 250 * time.Millisecond
	DefaultAgentWaitTime = 15 * time.Minute
)

// Headroom is the share of migration-agent-wait-time a plan may use: an
// estimate above it does not fit.
const Headroom = 0.8

// LoginsPerAgent is how many logins a migrated agent makes on the target:
// each agent holds two API connections.
const LoginsPerAgent = 2

// loginCost is what one agent login costs beyond waiting for a token
// (dial, TLS, login; the agents connect many at a time), and settle the
// fixed part of VALIDATION (the source telling every agent, the last
// login's retry after the last token, the last reports). Both were fitted
// to migbench's runs (see the README's table): without a limit, 446 logins
// took 0.21-0.66s and 80 took 0.04-0.08s; with a burst of 10 or more,
// VALIDATION ended 0.1-0.8s after the bucket's floor. With a burst of 1
// the bucket cannot bank a token no agent was trying for, and this
// estimate came out 10-30% short; settle does not cover that.
const (
	loginCost = 600 * time.Microsecond
	settle    = 200 * time.Millisecond
)

// minRate is the smallest agent-ratelimit-rate the advice proposes; below
// it the advice raises agent-ratelimit-max instead.
const minRate = 10 * time.Millisecond

// Limits are the agent login settings a migration meets: the target's
// token bucket, and the source's wait (Juju's migration master runs on the
// source controller and waits there for the agents to report).
type Limits struct {
	Max  int           // the target's agent-ratelimit-max (0: no limit)
	Rate time.Duration // the target's agent-ratelimit-rate
	Wait time.Duration // the source's migration-agent-wait-time
}

// LimitsFromConfig reads the settings from a controller's config (as
// Controller.ControllerConfig answers it), with Juju's defaults for what
// is unset.
func LimitsFromConfig(cfg map[string]any) (Limits, error) {
	l := Limits{Max: DefaultRateLimitMax, Rate: DefaultRateLimitRate, Wait: DefaultAgentWaitTime}
	if v, ok := cfg["agent-ratelimit-max"]; ok && v != nil {
		n, err := configInt(v)
		if err != nil {
			return l, fmt.Errorf("agent-ratelimit-max %v: %w", v, err)
		}
		l.Max = n
	}
	for key, dst := range map[string]*time.Duration{"agent-ratelimit-rate": &l.Rate, "migration-agent-wait-time": &l.Wait} {
		v, ok := cfg[key]
		if !ok || v == nil {
			continue
		}
		d, err := configDuration(v)
		if err != nil {
			return l, fmt.Errorf("%s %v: %w", key, v, err)
		}
		*dst = d
	}
	return l, nil
}

func configInt(v any) (int, error) {
	switch v := v.(type) {
	case float64:
		return int(v), nil
	case int:
		return v, nil
	case int64:
		return int(v), nil
	case string:
		return strconv.Atoi(strings.TrimSpace(v))
	}
	return 0, fmt.Errorf("not a number")
}

// configDuration reads a duration as Juju writes it ("250ms", "15m"), or a
// number of nanoseconds.
func configDuration(v any) (time.Duration, error) {
	switch v := v.(type) {
	case string:
		return time.ParseDuration(strings.TrimSpace(v))
	case float64:
		return time.Duration(v), nil
	case int64:
		return time.Duration(v), nil
	case int:
		return time.Duration(v), nil
	}
	return 0, fmt.Errorf("not a duration")
}

// Estimate is how long a model's agents take to reconnect to a target
// with the given limits: the target's bucket admits Max logins at once and
// one more every Rate, so the last of n logins waits (n−Max)×Rate; add
// each login's own cost and VALIDATION's fixed part.
func Estimate(agents int, l Limits) time.Duration {
	if agents <= 0 {
		return settle
	}
	n := LoginsPerAgent * agents
	var wait time.Duration
	if l.Max > 0 && l.Rate > 0 && n > l.Max {
		wait = time.Duration(n-l.Max) * l.Rate
	}
	return settle + wait + time.Duration(n)*loginCost
}

// Fits reports whether an estimate leaves the headroom within the wait
// time.
func Fits(estimate time.Duration, l Limits) bool {
	return float64(estimate) <= Headroom*float64(l.Wait)
}

// Advise returns settings under which a model of agents fits, changing the
// rate first (the burst stays what the operator chose, but at least Juju's
// default of 10: a bucket of one cannot bank a token no agent was trying
// for at that moment, and there the estimate runs 10-30% short), then the
// burst when the rate would have to fall below minRate, and names them
// with the alternative of a longer wait time. It returns ok false when l
// already fits.
func Advise(agents int, l Limits) (advised Limits, advice string, ok bool) {
	est := Estimate(agents, l)
	if Fits(est, l) {
		return l, "", false
	}
	n := LoginsPerAgent * agents
	fixed := settle + time.Duration(n)*loginCost
	budget := time.Duration(Headroom*float64(l.Wait)) - fixed
	advised = l
	burst := max(l.Max, DefaultRateLimitMax)
	switch {
	case budget <= 0:
		// Not even an unlimited bucket fits: only the wait time helps.
	case l.Max > 0 && n > burst && budget/time.Duration(n-burst) >= minRate:
		advised.Max = burst
		advised.Rate = (budget / time.Duration(n-burst)).Truncate(time.Millisecond)
	default:
		advised.Rate = minRate
		advised.Max = n - int(budget/minRate)
		if advised.Max < 1 {
			advised.Max = 1
		}
	}
	wait := time.Duration(math.Ceil(float64(est)/Headroom/float64(time.Minute))) * time.Minute
	if budget <= 0 {
		advised.Wait = wait
		return advised, fmt.Sprintf("%d agents need about %s to reconnect, more than %.0f%% of migration-agent-wait-time %s even without a rate limit: set migration-agent-wait-time to at least %s on the source",
			agents, roundEstimate(est), Headroom*100, l.Wait, wait), true
	}
	return advised, fmt.Sprintf("%d agents (%d logins) need about %s to reconnect at agent-ratelimit-max %d and agent-ratelimit-rate %s, more than %.0f%% of migration-agent-wait-time %s: set agent-ratelimit-max=%d agent-ratelimit-rate=%s on the target (about %s), or migration-agent-wait-time=%s on the source",
		agents, n, roundEstimate(est), l.Max, l.Rate, Headroom*100, l.Wait,
		advised.Max, advised.Rate, roundEstimate(Estimate(agents, advised)), wait), true
}

func roundEstimate(d time.Duration) time.Duration {
	if d >= time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}
