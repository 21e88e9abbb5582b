package db

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// SchemaFingerprint identifies the migrations this build knows, so that a
// test template database can be reused exactly while the schema is the same.
func SchemaFingerprint() string {
	h := sha256.New()
	for _, m := range migrations {
		fmt.Fprintf(h, "%d\n%s\n", m.version, m.sql)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
