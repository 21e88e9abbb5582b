//go:build race

package integration

// raceEnabled is set when the tests run with -race; the controller is then
// built with -race too.
const raceEnabled = true
