package jujuapi

import (
	"math"
	"strconv"
)

// CoerceConfig gives a model config value the type of like, Juju's own
// default for its key (nil when it has none), as Juju's config schema
// does: the CLI sends each value as the string typed after "=" ("false",
// "3"), and a bool or number key holds a bool or number. A value already
// typed, or for a key with a string default or none, is returned as it
// is; a string that does not parse is refused with a "not valid" error
// naming the key.
func CoerceConfig(key string, v, like any) (any, error) {
	str, ok := v.(string)
	if !ok || like == nil {
		return v, nil
	}
	switch like.(type) {
	case bool:
		b, err := strconv.ParseBool(str)
		if err != nil {
			return nil, Errorf(CodeNotValid, "%s: expected bool, got string(%q)", key, str)
		}
		return b, nil
	case float64, float32, int, int64, int32:
		f, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, Errorf(CodeNotValid, "%s: expected number, got string(%q)", key, str)
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), nil
		}
		return f, nil
	}
	return v, nil
}
