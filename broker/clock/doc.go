// Package clock is the time source of the broker's parts, injected where
// time decides behaviour (detaching idle connections, cutover waits,
// migration leases, the login throttle), so that tests can move time
// instead of waiting for it.
//
// [Real] is the system clock; [Fake] is a clock that moves only when a
// test says so. This package imports nothing of the project's.
package clock
