package charm

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxMetadataFile bounds each YAML file read from an archive, so that a
// small archive cannot expand into a large allocation.
const maxMetadataFile = 1 << 20

// Archive is an opened charm archive.
type Archive struct {
	zr *zip.Reader
	// root is the directory holding metadata.yaml ("" for the top).
	root string
}

// OpenArchive opens a charm archive (a zip) of size bytes, finding its
// root directory as Juju's charms endpoint does: the one directory with
// metadata.yaml nearest the top.
func OpenArchive(r io.ReaderAt, size int64) (*Archive, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("cannot open charm archive: %w", err)
	}
	var found []string
	for _, f := range zr.File {
		if path.Base(f.Name) == "metadata.yaml" && !strings.HasSuffix(f.Name, "/") {
			found = append(found, path.Dir(f.Name))
		}
	}
	switch len(found) {
	case 0:
		return nil, errors.New("invalid charm archive: missing metadata.yaml")
	case 1:
	default:
		depth := func(p string) int {
			if p == "." {
				return 0
			}
			return strings.Count(p, "/") + 1
		}
		sort.Slice(found, func(i, j int) bool { return depth(found[i]) < depth(found[j]) })
		if depth(found[0]) == depth(found[1]) {
			return nil, errors.New("invalid charm archive: ambiguous root directory")
		}
	}
	root := found[0]
	if root == "." {
		root = ""
	} else {
		root += "/"
	}
	return &Archive{zr: zr, root: root}, nil
}

// Read reads a charm archive of size bytes.
func Read(r io.ReaderAt, size int64) (*Charm, error) {
	a, err := OpenArchive(r, size)
	if err != nil {
		return nil, err
	}
	ch, err := a.Charm()
	if err != nil {
		return nil, fmt.Errorf("invalid charm archive: %w", err)
	}
	return ch, nil
}

// file returns the archive member at name (relative to the root), or nil.
func (a *Archive) file(name string) *zip.File {
	for _, f := range a.zr.File {
		if f.Name == a.root+name {
			return f
		}
	}
	return nil
}

// ReadFile returns the content of a file of the charm (relative to its
// root), reading at most limit bytes; ok is false when there is none.
func (a *Archive) ReadFile(name string, limit int64) (data []byte, ok bool, err error) {
	f := a.file(name)
	if f == nil || strings.HasSuffix(f.Name, "/") {
		return nil, false, nil
	}
	rc, err := f.Open()
	if err != nil {
		return nil, true, fmt.Errorf("open %q: %w", name, err)
	}
	defer rc.Close()
	data, err = io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, true, fmt.Errorf("read %q: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, true, fmt.Errorf("file %q is larger than %d bytes", name, limit)
	}
	return data, true, nil
}

// Files lists the charm's files and directories, as Juju's charms
// endpoint lists them: every member with its parent directories, plus
// "revision", sorted.
func (a *Archive) Files() []string {
	set := map[string]bool{"revision": true}
	for _, f := range a.zr.File {
		name, ok := strings.CutPrefix(f.Name, a.root)
		if !ok {
			continue
		}
		name = strings.TrimSuffix(name, "/")
		for name != "" && name != "." && name != "/" {
			set[name] = true
			name = path.Dir(name)
		}
	}
	out := make([]string, 0, len(set))
	for name := range set {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Charm reads the charm's metadata, config, manifest, actions, revision
// and version.
func (a *Archive) Charm() (*Charm, error) {
	raw, ok, err := a.ReadFile("metadata.yaml", maxMetadataFile)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New(`archive file "metadata.yaml" not found`)
	}
	meta, err := parseMeta(raw)
	if err != nil {
		return nil, err
	}
	ch := &Charm{Meta: *meta}
	if raw, ok, err = a.ReadFile("manifest.yaml", maxMetadataFile); err != nil {
		return nil, err
	} else if ok {
		if ch.Bases, err = parseManifest(raw); err != nil {
			return nil, fmt.Errorf(`parsing "manifest.yaml" file: %w`, err)
		}
	}
	if raw, ok, err = a.ReadFile("config.yaml", maxMetadataFile); err != nil {
		return nil, err
	} else if ok {
		if ch.Config, err = parseConfig(raw); err != nil {
			return nil, err
		}
	}
	if raw, ok, err = a.ReadFile("actions.yaml", maxMetadataFile); err != nil {
		return nil, err
	} else if ok {
		if ch.Actions, err = parseActions(raw); err != nil {
			return nil, fmt.Errorf("actions: %w", err)
		}
	}
	if raw, ok, err = a.ReadFile("revision", 64); err != nil {
		return nil, err
	} else if ok {
		rev, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, errors.New("invalid revision file")
		}
		ch.Revision = rev
	}
	if raw, ok, err = a.ReadFile("version", maxMetadataFile); err != nil {
		return nil, err
	} else if ok {
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Scan()
		v := strings.TrimPrefix(sc.Text(), "revision-id: ")
		if len(v) > 100 {
			v = v[:100]
		}
		ch.Version = v
	}
	return ch, nil
}

// HasHooksOrDispatch reports whether the charm has a dispatch file or
// hooks, which the Juju client requires of a charm it uploads.
func (a *Archive) HasHooksOrDispatch() bool {
	hooks := 0
	for _, f := range a.zr.File {
		if strings.Contains(f.Name, "hooks/") {
			hooks++
		}
		if hooks > 1 || strings.Contains(f.Name, "dispatch") {
			return true
		}
	}
	return false
}

// yamlMap decodes a YAML document into a map with string keys.
func yamlMap(raw []byte) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// describe names a value's type as Juju's schema errors do.
func describe(v any) string {
	if v == nil {
		return "nothing"
	}
	return fmt.Sprintf("%T(%#v)", v, v)
}

func parseMeta(raw []byte) (*Meta, error) {
	m, err := yamlMap(raw)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	str := func(key string, required bool) (string, error) {
		v, present := m[key]
		if !present && !required {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("metadata: %s: expected string, got %s", key, describe(v))
		}
		return s, nil
	}
	strList := func(key string) ([]string, error) {
		v, present := m[key]
		if !present {
			return nil, nil
		}
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("metadata: %s: expected list, got %s", key, describe(v))
		}
		out := make([]string, len(list))
		for i, e := range list {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("metadata: %s[%d]: expected string, got %s", key, i, describe(e))
			}
			out[i] = s
		}
		return out, nil
	}
	meta := &Meta{}
	if meta.Name, err = str("name", true); err != nil {
		return nil, err
	}
	if meta.Summary, err = str("summary", true); err != nil {
		return nil, err
	}
	if meta.Description, err = str("description", true); err != nil {
		return nil, err
	}
	if v, ok := m["subordinate"]; ok {
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("metadata: subordinate: expected bool, got %s", describe(v))
		}
		meta.Subordinate = b
	}
	for _, f := range []struct {
		key  string
		role string
		into *map[string]Relation
	}{{"provides", RoleProvider, &meta.Provides}, {"requires", RoleRequirer, &meta.Requires}, {"peers", RolePeer, &meta.Peers}} {
		if *f.into, err = parseRelations(m[f.key], f.key, f.role); err != nil {
			return nil, err
		}
	}
	if v, ok := m["extra-bindings"]; ok && v != nil {
		eb, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("metadata: extra-bindings: expected map, got %s", describe(v))
		}
		for name := range eb {
			meta.ExtraBindings = append(meta.ExtraBindings, name)
		}
		slices.Sort(meta.ExtraBindings)
	}
	if meta.Categories, err = strList("categories"); err != nil {
		return nil, err
	}
	if meta.Tags, err = strList("tags"); err != nil {
		return nil, err
	}
	if meta.Series, err = strList("series"); err != nil {
		return nil, err
	}
	if meta.Terms, err = strList("terms"); err != nil {
		return nil, err
	}
	if meta.MinJujuVersion, err = str("min-juju-version", false); err != nil {
		return nil, err
	}
	return meta, nil
}

// parseRelations reads provides, requires or peers: each endpoint an
// interface name or {interface, limit, optional, scope}.
func parseRelations(v any, key, role string) (map[string]Relation, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("metadata: %s: expected map, got %s", key, describe(v))
	}
	out := make(map[string]Relation, len(m))
	for name, spec := range m {
		where := key + "." + name
		r := Relation{Name: name, Role: role, Scope: ScopeGlobal}
		switch s := spec.(type) {
		case string:
			r.Interface = s
		case map[string]any:
			iface, ok := s["interface"].(string)
			if !ok {
				return nil, fmt.Errorf("metadata: %s.interface: expected string, got %s", where, describe(s["interface"]))
			}
			r.Interface = iface
			if l, present := s["limit"]; present && l != nil {
				n, ok := l.(int)
				if !ok {
					return nil, fmt.Errorf("metadata: %s.limit: expected int, got %s", where, describe(l))
				}
				r.Limit = n
			}
			if o, present := s["optional"]; present {
				b, ok := o.(bool)
				if !ok {
					return nil, fmt.Errorf("metadata: %s.optional: expected bool, got %s", where, describe(o))
				}
				r.Optional = b
			}
			if sc, present := s["scope"]; present {
				str, ok := sc.(string)
				if !ok || (str != ScopeGlobal && str != ScopeContainer) {
					return nil, fmt.Errorf(`metadata: %s.scope: expected "global" or "container", got %s`, where, describe(sc))
				}
				r.Scope = str
			}
		default:
			return nil, fmt.Errorf("metadata: %s: expected string or map, got %s", where, describe(spec))
		}
		out[name] = r
	}
	return out, nil
}

func parseManifest(raw []byte) ([]Base, error) {
	m, err := yamlMap(raw)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	list, ok := m["bases"].([]any)
	if !ok {
		return nil, errors.New("manifest: bases: expected list")
	}
	var bases []Base
	for i, e := range list {
		bm, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("manifest: bases[%d]: expected map, got %s", i, describe(e))
		}
		b := Base{}
		b.Name, _ = bm["name"].(string)
		switch ch := bm["channel"].(type) {
		case string:
			b.Channel = ch
		case float64:
			b.Channel = strconv.FormatFloat(ch, 'f', -1, 64)
		}
		if b.Name == "" || b.Channel == "" {
			return nil, fmt.Errorf("manifest: bases[%d]: name and channel are required", i)
		}
		if archs, ok := bm["architectures"].([]any); ok {
			for _, a := range archs {
				if s, ok := a.(string); ok {
					b.Architectures = append(b.Architectures, s)
				}
			}
		}
		bases = append(bases, b)
	}
	return bases, nil
}

func parseConfig(raw []byte) (map[string]Option, error) {
	m, err := yamlMap(raw)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("invalid config: empty configuration")
	}
	opts, present := m["options"]
	if !present {
		return nil, errors.New("invalid config: empty configuration")
	}
	om, _ := opts.(map[string]any)
	out := make(map[string]Option, len(om))
	for name, spec := range om {
		sm, _ := spec.(map[string]any)
		o := Option{}
		o.Type, _ = sm["type"].(string)
		o.Description, _ = sm["description"].(string)
		switch o.Type {
		case "string", "secret", "int", "float", "boolean":
		case "":
			o.Type = "string"
		default:
			return nil, fmt.Errorf("invalid config: option %q has unknown type %q", name, o.Type)
		}
		def := sm["default"]
		if s, ok := def.(string); ok && s == "" && (o.Type == "string" || o.Type == "secret") {
			o.Default = "" // as Juju: an empty default is kept, unchecked
		} else if def != nil {
			v, ok := coerce(o.Type, def)
			if !ok {
				return nil, fmt.Errorf("invalid config default: option %q expected %s, got %#v", name, o.Type, def)
			}
			o.Default = v
		}
		out[name] = o
	}
	return out, nil
}

func parseActions(raw []byte) (map[string]string, error) {
	m, err := yamlMap(raw)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for name, spec := range m {
		sm, _ := spec.(map[string]any)
		desc, _ := sm["description"].(string)
		out[name] = desc
	}
	return out, nil
}
