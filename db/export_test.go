package db

import "context"

// EachModelPgx is d.eachModelPgx, for a test that must know the listing
// is read with pgx itself on PostgreSQL (errNotPgx if it cannot be).
func EachModelPgx(d *DB, ctx context.Context, fn func(*ListedModel) error) error {
	return d.eachModelPgx(ctx, fn)
}
