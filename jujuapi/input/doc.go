// Package input checks what callers send before it costs anything: names
// (of controllers, groups, users, clouds, credentials...) and free text
// fields have length limits and may not hold control characters (NUL
// included) or the bidirectional and format characters that make text
// display as something it is not (U+202E shows "gpj.exe" as "exe.jpg").
// Errors quote at most QuoteMax characters of what they refuse, so that a
// refusal never echoes a large input back.
//
// It imports only the standard library, so that the admin API, the
// controller registry and the facades can share one set of rules.
package input
