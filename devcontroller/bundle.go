package devcontroller

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The Bundle facade (version 6): ExportBundle writes the model's
// applications, the machines their units are on, and the relations
// between them (the development controller models none) as the bundle
// YAML Juju exports: default-base, then applications (charm, channel,
// revision, base, num_units, to, options, annotations, constraints), then
// machines (constraints, annotations, base), keys sorted, with Juju's
// rules for bases (one base in use becomes the default) and its
// constraint format. Exposed endpoints and offers, which Juju puts in an
// overlay document, do not exist here.

// bundleApp and bundleMachine hold one application's and one machine's
// part of a bundle, in Juju's field order.
type bundleApp struct {
	charm, channel string
	revision       *int
	base           string
	numUnits       int
	to             []string
	options        map[string]any
	annotations    map[string]string
	constraints    string
}

type bundleMachine struct {
	constraints string
	annotations map[string]string
	base        string
}

// bundleBase writes a base as Juju's corebase.Base.String does for a
// channel of the stable risk: "ubuntu@22.04/stable".
func bundleBase(b store.Base) string {
	ch := b.Channel
	if !strings.Contains(ch, "/") {
		ch += "/stable"
	}
	return b.Name + "@" + ch
}

// parseConfigBase reads a default-base value such as "ubuntu@22.04".
func parseConfigBase(s string) (store.Base, bool) {
	name, ch, ok := strings.Cut(s, "@")
	if !ok || name == "" || ch == "" {
		return store.Base{}, false
	}
	return store.Base{Name: name, Channel: strings.TrimSuffix(ch, "/stable")}, true
}

func (s *session) exportBundle(_ context.Context, p params.ExportBundleParams) (params.StringResult, error) {
	m, err := s.configModel(store.AccessRead)
	if err != nil {
		return params.StringResult{}, err
	}
	out, err := s.ctl.exportBundle(m, p.IncludeSeries)
	if err != nil {
		return params.StringResult{}, err
	}
	return params.StringResult{Result: out}, nil
}

func (c *Controller) exportBundle(m *store.Model, includeSeries bool) (string, error) {
	if len(m.Applications) == 0 {
		return "", fmt.Errorf("nothing to export as there are no applications")
	}
	defaultBase := defaultBase
	if v, ok := c.configValues(m)["default-base"].Value.(string); ok {
		if b, ok := parseConfigBase(v); ok {
			defaultBase = b
		}
	}
	def := bundleBase(defaultBase)
	used := map[string]bool{}
	machineIDs := map[string]bool{}
	apps := map[string]*bundleApp{}
	for _, name := range sortedKeys(m.Applications) {
		app := m.Applications[name]
		charm, rev := charmName(app.CharmURL)
		schema, _, _ := strings.Cut(app.CharmURL, ":")
		if app.Revision >= 0 {
			rev = app.Revision
		}
		ba := &bundleApp{channel: app.Channel, options: app.Config, constraints: bundleConstraints(app.Cons),
			annotations: m.Annotations[jujuapi.ApplicationTag(name).String()]}
		switch {
		case schema == "local":
			ba.charm = "local:" + charm
			if rev >= 0 {
				ba.charm += "-" + strconv.Itoa(rev)
			}
		case schema == "ch" || !strings.Contains(app.CharmURL, ":"):
			ba.charm = charm
			if rev >= 0 {
				r := rev
				ba.revision = &r
			}
		default:
			return "", jujuapi.Errorf(jujuapi.CodeNotValid, "charm schema %q not valid", schema)
		}
		base := bundleBase(app.Base)
		used[base] = true
		if base != def {
			ba.base = base
		}
		units := sortedKeys(app.Units)
		sort.SliceStable(units, func(i, j int) bool {
			_, a, _ := cutUnit(units[i])
			_, b, _ := cutUnit(units[j])
			x, _ := strconv.Atoi(a)
			y, _ := strconv.Atoi(b)
			return x < y
		})
		ba.numUnits = len(units)
		for _, un := range units {
			id := app.Units[un].Machine
			machineIDs[id] = true
			ba.to = append(ba.to, id)
		}
		apps[name] = ba
	}
	machines := map[string]*bundleMachine{}
	for id := range machineIDs {
		mc := m.Machines[id]
		if mc == nil {
			continue
		}
		bm := &bundleMachine{constraints: bundleConstraints(mc.Cons), annotations: m.Annotations[jujuapi.MachineTag(id).String()]}
		base := bundleBase(mc.Base)
		used[base] = true
		if base != def {
			bm.base = base
		}
		machines[id] = bm
	}
	// One base in use becomes the default; several without the default
	// leave none.
	switch {
	case len(used) == 1:
		for only := range used {
			def = only
		}
		for _, a := range apps {
			a.base = ""
		}
		for _, mc := range machines {
			mc.base = ""
		}
	case len(used) > 1 && !used[def]:
		def = ""
	}
	var w yamlWriter
	if def != "" {
		w.scalar(0, "default-base", def)
		if includeSeries {
			if s := seriesOfBase(def); s != "" {
				w.scalar(0, "series", s)
			}
		}
	}
	w.key(0, "applications")
	for _, name := range sortedKeys(apps) {
		a := apps[name]
		w.key(1, name)
		w.scalarIf(2, "charm", a.charm)
		w.scalarIf(2, "channel", a.channel)
		if a.revision != nil {
			w.value(2, "revision", *a.revision)
		}
		w.scalarIf(2, "base", a.base)
		if includeSeries && a.base != "" {
			w.scalarIf(2, "series", seriesOfBase(a.base))
		}
		if a.numUnits > 0 {
			w.value(2, "num_units", a.numUnits)
		}
		w.list(2, "to", a.to)
		w.mapping(2, "options", a.options)
		w.mapping(2, "annotations", stringMap(a.annotations))
		w.scalarIf(2, "constraints", a.constraints)
	}
	if len(machines) > 0 {
		w.key(0, "machines")
		ids := sortedKeys(machines)
		sort.SliceStable(ids, func(i, j int) bool {
			x, _ := strconv.Atoi(ids[i])
			y, _ := strconv.Atoi(ids[j])
			return x < y
		})
		for _, id := range ids {
			mc := machines[id]
			if mc.constraints == "" && len(mc.annotations) == 0 && mc.base == "" {
				w.raw(1, quoteYAML(id)+": {}")
				continue
			}
			w.key(1, id)
			w.scalarIf(2, "constraints", mc.constraints)
			w.mapping(2, "annotations", stringMap(mc.annotations))
			w.scalarIf(2, "base", mc.base)
			if includeSeries && mc.base != "" {
				w.scalarIf(2, "series", seriesOfBase(mc.base))
			}
		}
	}
	return w.String(), nil
}

func stringMap(m map[string]string) map[string]any {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
