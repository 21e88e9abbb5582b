package jujuapi

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
)

// Method serves one (facade, version, method) for a connection whose state
// is S.
type Method[S any] func(ctx context.Context, s S, params json.RawMessage) (any, error)

// Registry maps (facade, version, method) to a Method. Build it once at start
// (Register is not safe for concurrent use); Find and Versions are safe to
// call from many connections at once.
type Registry[S any] struct {
	facades map[string]map[int]map[string]Method[S]
}

// Register adds method to each listed version of facade.
func (r *Registry[S]) Register(facade string, versions []int, method string, fn Method[S]) {
	if r.facades == nil {
		r.facades = map[string]map[int]map[string]Method[S]{}
	}
	vs := r.facades[facade]
	if vs == nil {
		vs = map[int]map[string]Method[S]{}
		r.facades[facade] = vs
	}
	for _, v := range versions {
		if vs[v] == nil {
			vs[v] = map[string]Method[S]{}
		}
		vs[v][method] = fn
	}
}

// Find returns the method for a request, or the error Juju gives when there
// is none.
func (r *Registry[S]) Find(facade string, version int, method string) (Method[S], error) {
	vs, ok := r.facades[facade]
	if !ok {
		return nil, UnknownFacadeError(facade)
	}
	ms, ok := vs[version]
	if !ok {
		return nil, UnknownVersionError(facade, version)
	}
	fn, ok := ms[method]
	if !ok {
		return nil, UnknownMethodError(facade, version, method)
	}
	return fn, nil
}

// Serve finds and calls the method for req, with req's object id (a
// watcher's, say) in ctx for ObjectID.
func (r *Registry[S]) Serve(ctx context.Context, s S, req *Message) (any, error) {
	fn, err := r.Find(req.Type, req.Version, req.Request)
	if err != nil {
		return nil, err
	}
	if req.ID != "" {
		ctx = WithObjectID(ctx, req.ID)
	}
	return fn(ctx, s, req.Params)
}

type objectIDKey struct{}

// WithObjectID returns ctx carrying a request's object id: the id of the
// object a call is on, such as a watcher's for its Next and Stop (the
// request's "id"). A Client's calls made with it send the id.
func WithObjectID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, objectIDKey{}, id)
}

// ObjectID is the object id ctx carries, or "".
func ObjectID(ctx context.Context) string {
	id, _ := ctx.Value(objectIDKey{}).(string)
	return id
}

// FacadeVersions is one facade and its versions, as listed in a login result.
type FacadeVersions struct {
	Name     string `json:"name"`
	Versions []int  `json:"versions"`
}

// Versions lists every facade with its versions, sorted by name.
func (r *Registry[S]) Versions() []FacadeVersions {
	out := make([]FacadeVersions, 0, len(r.facades))
	for name, vs := range r.facades {
		fv := FacadeVersions{Name: name}
		for v := range vs {
			fv.Versions = append(fv.Versions, v)
		}
		slices.Sort(fv.Versions)
		out = append(out, fv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Typed adapts a function with typed params and result to a Method. The
// connection state comes first, so that a method expression such as
// (*session).createModel fits. Absent or null params decode as the zero P;
// params that do not decode are a "bad request".
func Typed[S, P, R any](fn func(s S, ctx context.Context, p P) (R, error)) Method[S] {
	return func(ctx context.Context, s S, raw json.RawMessage) (any, error) {
		var p P
		if len(raw) > 0 && string(raw) != "null" {
			if err := json.Unmarshal(raw, &p); err != nil {
				return nil, Errorf(CodeBadRequest, "cannot decode params: %v", err)
			}
		}
		r, err := fn(s, ctx, p)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
}

// NoParams adapts a function that takes no params, state first like Typed.
func NoParams[S, R any](fn func(s S, ctx context.Context) (R, error)) Method[S] {
	return func(ctx context.Context, s S, _ json.RawMessage) (any, error) {
		r, err := fn(s, ctx)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
}
