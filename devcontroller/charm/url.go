package charm

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Schemas of charm URLs.
const (
	SchemaLocal    = "local"
	SchemaCharmHub = "ch"
)

// URL is a charm URL: schema:[architecture/][series/]name[-revision].
type URL struct {
	Schema       string
	Architecture string
	Series       string
	Name         string
	// Revision is -1 when the URL has none.
	Revision int
}

var (
	validName   = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]*[a-z][a-z0-9]*)*$`)
	validSeries = regexp.MustCompile(`^[a-z]+([a-z0-9]+)?$`)
	validArch   = map[string]bool{"amd64": true, "arm64": true, "ppc64el": true, "s390x": true, "riscv64": true}
)

// ValidName reports whether name is a valid charm name.
func ValidName(name string) bool { return validName.MatchString(name) }

// ParseURL reads a charm URL as Juju does. A URL without a schema is a
// Charmhub one.
func ParseURL(s string) (*URL, error) {
	schema, rest, ok := strings.Cut(s, ":")
	if !ok {
		schema, rest = SchemaCharmHub, s
	}
	switch schema {
	case SchemaLocal, SchemaCharmHub:
	default:
		return nil, fmt.Errorf("cannot parse URL %q: schema %q not valid", s, schema)
	}
	if strings.ContainsAny(rest, "?#@") {
		return nil, fmt.Errorf("charm or bundle URL %q has unrecognized parts", s)
	}
	u := &URL{Schema: schema, Revision: -1}
	parts := strings.Split(rest, "/")
	max := 2
	if schema == SchemaCharmHub {
		max = 3
	}
	if len(parts) > max {
		return nil, fmt.Errorf("charm or bundle URL has invalid form: %q", s)
	}
	if len(parts) == 3 {
		u.Architecture, parts = parts[0], parts[1:]
		if !validArch[u.Architecture] {
			return nil, fmt.Errorf("cannot parse URL %q: architecture name %q not valid", s, u.Architecture)
		}
	}
	if len(parts) == 2 {
		u.Series, parts = parts[0], parts[1:]
		if !validSeries.MatchString(u.Series) {
			return nil, fmt.Errorf("cannot parse URL %q: series name %q not valid", s, u.Series)
		}
	}
	name := parts[0]
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if rev, err := strconv.Atoi(name[i+1:]); err == nil && rev >= 0 {
			name, u.Revision = name[:i], rev
		}
	}
	if !ValidName(name) {
		return nil, fmt.Errorf("cannot parse name and/or revision in URL %q: name %q not valid", s, name)
	}
	u.Name = name
	return u, nil
}

// String writes the URL as Juju does.
func (u URL) String() string {
	var b strings.Builder
	b.WriteString(u.Schema)
	b.WriteByte(':')
	if u.Architecture != "" {
		b.WriteString(u.Architecture)
		b.WriteByte('/')
	}
	if u.Series != "" {
		b.WriteString(u.Series)
		b.WriteByte('/')
	}
	b.WriteString(u.Name)
	if u.Revision >= 0 {
		b.WriteByte('-')
		b.WriteString(strconv.Itoa(u.Revision))
	}
	return b.String()
}

// WithRevision returns the URL with another revision (-1 for none).
func (u URL) WithRevision(rev int) URL {
	u.Revision = rev
	return u
}
