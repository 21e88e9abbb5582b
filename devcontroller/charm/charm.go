package charm

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Relation roles and scopes, as Juju names them.
const (
	RoleProvider = "provider"
	RoleRequirer = "requirer"
	RolePeer     = "peer"

	ScopeGlobal    = "global"
	ScopeContainer = "container"
)

// Charm is what a development controller keeps of a charm: its metadata,
// config options and bases, read from its archive.
type Charm struct {
	Meta Meta `json:"meta"`
	// Config holds the charm's config options by name (config.yaml).
	Config map[string]Option `json:"config,omitempty"`
	// Bases are the bases manifest.yaml lists; none for a charm without
	// one (an old charm lists series in its metadata instead).
	Bases []Base `json:"bases,omitempty"`
	// Actions are the charm's actions (actions.yaml), by name, with their
	// descriptions.
	Actions map[string]string `json:"actions,omitempty"`
	// Revision is the archive's "revision" file, 0 without one.
	Revision int `json:"revision"`
	// Version is the first line of the archive's "version" file.
	Version string `json:"version,omitempty"`
}

// Meta is a charm's metadata.yaml.
type Meta struct {
	Name           string              `json:"name"`
	Summary        string              `json:"summary"`
	Description    string              `json:"description"`
	Subordinate    bool                `json:"subordinate,omitempty"`
	Provides       map[string]Relation `json:"provides,omitempty"`
	Requires       map[string]Relation `json:"requires,omitempty"`
	Peers          map[string]Relation `json:"peers,omitempty"`
	ExtraBindings  []string            `json:"extra-bindings,omitempty"`
	Categories     []string            `json:"categories,omitempty"`
	Tags           []string            `json:"tags,omitempty"`
	Series         []string            `json:"series,omitempty"`
	Terms          []string            `json:"terms,omitempty"`
	MinJujuVersion string              `json:"min-juju-version,omitempty"`
}

// Relation is one relation endpoint of a charm.
type Relation struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Interface string `json:"interface"`
	Optional  bool   `json:"optional,omitempty"`
	Limit     int    `json:"limit,omitempty"`
	Scope     string `json:"scope"`
}

// Option is one config option.
type Option struct {
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	// Default is the option's default: a string, int64, float64 or bool
	// as Type says, or nil for none.
	Default any `json:"default"`
}

// Base is a base the charm runs on: an OS, a channel and architectures.
type Base struct {
	Name          string   `json:"name"`
	Channel       string   `json:"channel"`
	Architectures []string `json:"architectures,omitempty"`
}

// JujuInfo is the endpoint every application provides implicitly.
var JujuInfo = Relation{Name: "juju-info", Role: RoleProvider, Interface: "juju-info", Scope: ScopeGlobal}

// Endpoints returns every endpoint of the charm, juju-info included, in
// Juju's order: requirers, providers, peers, each by name.
func (m *Meta) Endpoints() []Relation {
	var eps []Relation
	for _, set := range []map[string]Relation{m.Peers, m.Provides, m.Requires} {
		for _, r := range set {
			eps = append(eps, r)
		}
	}
	if _, ok := m.Provides[JujuInfo.Name]; !ok {
		eps = append(eps, JujuInfo)
	}
	order := map[string]int{RoleRequirer: 0, RoleProvider: 1, RolePeer: 2}
	sort.Slice(eps, func(i, j int) bool {
		if eps[i].Role != eps[j].Role {
			return order[eps[i].Role] < order[eps[j].Role]
		}
		return eps[i].Name < eps[j].Name
	})
	return eps
}

// Endpoint returns the named endpoint, juju-info included.
func (m *Meta) Endpoint(name string) (Relation, bool) {
	for _, r := range m.Endpoints() {
		if r.Name == name {
			return r, true
		}
	}
	return Relation{}, false
}

// BindingNames lists the endpoints an application binds to spaces: the
// charm's declared relations and extra bindings (not juju-info), sorted.
func (m *Meta) BindingNames() []string {
	names := map[string]bool{}
	for _, set := range []map[string]Relation{m.Peers, m.Provides, m.Requires} {
		for name := range set {
			names[name] = true
		}
	}
	for _, name := range m.ExtraBindings {
		names[name] = true
	}
	return slices.Sorted(maps.Keys(names))
}

// DefaultSettings maps every option to its default (nil for none).
func (c *Charm) DefaultSettings() map[string]any {
	out := make(map[string]any, len(c.Config))
	for name, o := range c.Config {
		out[name] = o.Default
	}
	return out
}

// ParseSetting reads a value given as a string (juju config k=v) by the
// option's type, as Juju does: unknown options and values that do not
// parse are refused.
func (c *Charm) ParseSetting(name, value string) (any, error) {
	o, ok := c.Config[name]
	if !ok {
		return nil, fmt.Errorf("unknown option %q", name)
	}
	var (
		v   any
		err error
	)
	switch o.Type {
	case "string", "secret":
		return value, nil
	case "int":
		v, err = strconv.ParseInt(value, 10, 64)
	case "float":
		v, err = strconv.ParseFloat(value, 64)
	case "boolean":
		v, err = strconv.ParseBool(value)
	default:
		return nil, fmt.Errorf("option %q has unknown type %q", name, o.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("option %q expected %s, got %q", name, o.Type, value)
	}
	return v, nil
}

// ValidateSetting checks a typed value (from YAML or JSON) against the
// option's type and returns it in the option's Go type.
func (c *Charm) ValidateSetting(name string, value any) (any, error) {
	o, ok := c.Config[name]
	if !ok {
		return nil, fmt.Errorf("unknown option %q", name)
	}
	if value == nil {
		return nil, nil
	}
	v, ok := coerce(o.Type, value)
	if !ok {
		return nil, fmt.Errorf("option %q expected %s, got %#v", name, o.Type, value)
	}
	return v, nil
}

// coerce converts v to the Go type of an option type, as Juju's schema
// checkers do.
func coerce(typ string, v any) (any, bool) {
	switch typ {
	case "string", "secret":
		s, ok := v.(string)
		if typ == "secret" && ok && s != "" && !strings.HasPrefix(s, "secret:") {
			return nil, false
		}
		return s, ok
	case "int":
		switch x := v.(type) {
		case int:
			return int64(x), true
		case int64:
			return x, true
		case uint64:
			return int64(x), true
		case float64:
			if x == float64(int64(x)) {
				return int64(x), true
			}
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			return n, err == nil
		}
	case "float":
		switch x := v.(type) {
		case int:
			return float64(x), true
		case int64:
			return float64(x), true
		case uint64:
			return float64(x), true
		case float64:
			return x, true
		case string:
			f, err := strconv.ParseFloat(x, 64)
			return f, err == nil
		}
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, true
		case string:
			b, err := strconv.ParseBool(x)
			return b, err == nil
		}
	}
	return nil, false
}

// UnmarshalJSON restores the default's Go type (JSON numbers decode as
// float64; an int option's default is an int64).
func (o *Option) UnmarshalJSON(data []byte) error {
	type plain Option
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	if p.Default != nil {
		if v, ok := coerce(p.Type, p.Default); ok {
			p.Default = v
		}
	}
	*o = Option(p)
	return nil
}
