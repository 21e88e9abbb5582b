package devcontroller

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yamlWriter writes the small YAML documents the controller produces
// (exported bundles) in the style of the yaml.v2 encoder Juju uses: two
// spaces per level, list items at their key's indentation, keys in the
// order written.
type yamlWriter struct{ b strings.Builder }

func (w *yamlWriter) String() string { return w.b.String() }

func (w *yamlWriter) raw(level int, line string) {
	w.b.WriteString(strings.Repeat("  ", level))
	w.b.WriteString(line)
	w.b.WriteByte('\n')
}

func (w *yamlWriter) key(level int, k string) { w.raw(level, quoteYAML(k)+":") }

func (w *yamlWriter) scalar(level int, k, v string) { w.value(level, k, v) }

func (w *yamlWriter) scalarIf(level int, k, v string) {
	if v != "" {
		w.value(level, k, v)
	}
}

// value writes one key with a scalar, or a nested mapping or list.
func (w *yamlWriter) value(level int, k string, v any) {
	switch x := v.(type) {
	case map[string]any:
		w.mapping(level, k, x)
	case []any:
		items := make([]string, len(x))
		for i, it := range x {
			items[i] = scalarYAML(it)
		}
		w.raw(level, quoteYAML(k)+":")
		for _, it := range items {
			w.raw(level, "- "+it)
		}
	default:
		w.raw(level, quoteYAML(k)+": "+scalarYAML(v))
	}
}

// list writes a list of strings (nothing when empty).
func (w *yamlWriter) list(level int, k string, items []string) {
	if len(items) == 0 {
		return
	}
	w.key(level, k)
	for _, it := range items {
		w.raw(level, "- "+quoteYAML(it))
	}
}

// mapping writes a mapping with sorted keys (nothing when empty).
func (w *yamlWriter) mapping(level int, k string, m map[string]any) {
	if len(m) == 0 {
		return
	}
	w.key(level, k)
	for _, mk := range sortedKeys(m) {
		w.value(level+1, mk, m[mk])
	}
}

// scalarYAML writes a scalar as YAML: strings quoted when they would read
// as something else, numbers as JSON writes them.
func scalarYAML(v any) string {
	switch x := v.(type) {
	case string:
		return quoteYAML(x)
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return quoteYAML(fmt.Sprint(v))
	}
	return string(b) // JSON is flow YAML
}

// quoteYAML writes a string as a YAML scalar, quoted only if it must be.
func quoteYAML(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return strconv.Quote(s)
	}
	text := strings.TrimSuffix(string(out), "\n")
	if strings.Contains(text, "\n") {
		return strconv.Quote(s)
	}
	return text
}
