package db

// PgxListings is how many listings of every model were read with pgx
// itself, for a test that must know EachModelFor took that way.
func PgxListings() int64 { return pgxListings.Load() }

// SessionPurgeStatement is the statement PurgeSessions runs per batch.
func SessionPurgeStatement() string { return purgeStatement("session_tokens", "expires_at") }
