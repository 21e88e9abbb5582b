package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// routes caches the routing table (model → hosting controller) in memory.
// A change to a model's row invalidates its entry.
type routes struct {
	db *db.DB
	mu sync.RWMutex
	m  map[string]*db.Model // with Controller loaded
}

func newRoutes(d *db.DB) *routes { return &routes{db: d, m: map[string]*db.Model{}} }

// get returns the route of a model, or a "not found" error.
func (r *routes) get(ctx context.Context, uuid string) (*db.Model, error) {
	r.mu.RLock()
	m := r.m[uuid]
	r.mu.RUnlock()
	if m != nil {
		return m, nil
	}
	var row db.Model
	err := r.db.WithContext(ctx).Preload("Controller").Where("uuid = ?", uuid).First(&row).Error
	if errors.Is(err, db.ErrNotFound) {
		return nil, jujuapi.NotFoundf("model %q", uuid)
	}
	if err != nil {
		return nil, fmt.Errorf("look up model %s: %w", uuid, err)
	}
	r.mu.Lock()
	r.m[uuid] = &row
	r.mu.Unlock()
	return &row, nil
}

// forget drops a cached route.
func (r *routes) forget(uuid string) {
	r.mu.Lock()
	delete(r.m, uuid)
	r.mu.Unlock()
}

// clear drops every cached route.
func (r *routes) clear() {
	r.mu.Lock()
	clear(r.m)
	r.mu.Unlock()
}

// routesChannel carries route changes between replicas: a model UUID, or
// "" for "anything may have changed".
const routesChannel = "jimm_routes"

// forgetController drops every cached route to a controller.
func (r *routes) forgetController(id uint) {
	r.mu.Lock()
	for uuid, m := range r.m {
		if m.ControllerID == id {
			delete(r.m, uuid)
		}
	}
	r.mu.Unlock()
}
