// Package dbfault turns the database's failures into what a client may be
// told, where the broker answers clients (the /api facades, model
// connections, the model HTTP endpoints, the admin API): an outage is
// "database unavailable; try again" (code "try again", HTTP 503), any other
// database failure a generic internal error. A client never sees a driver's
// message; the log has it.
package dbfault
