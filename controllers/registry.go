package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"gorm.io/gorm"

	"github.com/jimmbroker/jimm/db"
)

// Sealer encrypts secrets at rest; authz.Cipher is one. The aad binds a
// sealed secret to the object it belongs to.
type Sealer interface {
	Seal(plaintext []byte, aad string) ([]byte, error)
	Open(sealed []byte, aad string) ([]byte, error)
}

// Registry errors, for callers to map to their own.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrHasModels     = errors.New("controller hosts models")
	ErrInvalid       = errors.New("invalid")
)

// Registry is the broker's list of controllers, in its database, with
// each controller's admin password sealed.
type Registry struct {
	db     *db.DB
	sealer Sealer
	log    *slog.Logger
}

// NewRegistry returns a registry over d.
func NewRegistry(d *db.DB, sealer Sealer, logger *slog.Logger) *Registry {
	return &Registry{db: d, sealer: sealer, log: logger}
}

// AddRequest is a controller to register.
type AddRequest struct {
	Name          string
	UUID          string
	Addresses     []string
	CACert        string
	TLSServerName string
	AdminUser     string
	AdminPassword string
	Priority      int
}

func passwordAAD(uuid string) string { return "controller/" + uuid + "/admin-password" }

// Add verifies a controller (dial with its pinned CA, log in, read its
// version, cloud and regions) and stores it. Nothing is stored if any step
// fails.
func (r *Registry) Add(ctx context.Context, req AddRequest) (*db.Controller, error) {
	switch {
	case req.Name == "" || strings.ContainsAny(req.Name, "/ \t\n"):
		return nil, fmt.Errorf("%w: controller name %q: want a non-empty name without spaces or slashes", ErrInvalid, req.Name)
	case req.UUID == "":
		return nil, fmt.Errorf("%w: controller %q: uuid is required", ErrInvalid, req.Name)
	case len(req.Addresses) == 0:
		return nil, fmt.Errorf("%w: controller %q: at least one API address is required", ErrInvalid, req.Name)
	case req.CACert == "":
		return nil, fmt.Errorf("%w: controller %q: ca-cert is required", ErrInvalid, req.Name)
	case req.AdminUser == "" || req.AdminPassword == "":
		return nil, fmt.Errorf("%w: controller %q: admin-user and admin-password are required", ErrInvalid, req.Name)
	}
	var taken int64
	if err := r.db.WithContext(ctx).Model(&db.Controller{}).Where("name = ? OR uuid = ?", req.Name, req.UUID).Count(&taken).Error; err != nil {
		return nil, fmt.Errorf("add controller %q: %w", req.Name, err)
	}
	if taken > 0 {
		return nil, fmt.Errorf("%w: a controller named %q or with UUID %s is already registered", ErrAlreadyExists, req.Name, req.UUID)
	}
	ep := Endpoint{Name: req.Name, UUID: req.UUID, Addresses: req.Addresses, CACert: req.CACert, TLSServerName: req.TLSServerName}
	info, err := Probe(ctx, ep, Credentials{User: req.AdminUser, Password: req.AdminPassword})
	if err != nil {
		return nil, fmt.Errorf("add controller %q: %w", req.Name, err)
	}
	if info.ControllerAccess != "superuser" {
		return nil, fmt.Errorf("%w: add controller %q: user %q has %q access to it; the broker needs a superuser", ErrInvalid, req.Name, req.AdminUser, info.ControllerAccess)
	}
	sealed, err := r.sealer.Seal([]byte(req.AdminPassword), passwordAAD(req.UUID))
	if err != nil {
		return nil, fmt.Errorf("add controller %q: %w", req.Name, err)
	}
	c := &db.Controller{
		Name: req.Name, UUID: req.UUID, Addresses: req.Addresses, CACert: req.CACert,
		TLSServerName: ep.serverName(), AdminUser: req.AdminUser, AdminPassword: sealed,
		AgentVersion: info.AgentVersion, Cloud: info.Cloud, CloudType: info.CloudType, Regions: info.Regions,
		Priority: req.Priority,
	}
	if err := r.db.WithContext(ctx).Create(c).Error; err != nil {
		if errors.Is(err, db.ErrDuplicate) {
			return nil, fmt.Errorf("%w: a controller named %q or with UUID %s is already registered", ErrAlreadyExists, req.Name, req.UUID)
		}
		return nil, fmt.Errorf("add controller %q: %w", req.Name, err)
	}
	r.log.Info("controller added", "controller", c.Name, "uuid", c.UUID, "version", c.AgentVersion, "cloud", c.Cloud, "regions", c.Regions)
	return c, nil
}

// List returns every controller, by name.
func (r *Registry) List(ctx context.Context) ([]db.Controller, error) {
	var out []db.Controller
	if err := r.db.WithContext(ctx).Order("name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list controllers: %w", err)
	}
	return out, nil
}

// Get returns a controller by name.
func (r *Registry) Get(ctx context.Context, name string) (*db.Controller, error) {
	var c db.Controller
	err := r.db.WithContext(ctx).Where("name = ?", name).First(&c).Error
	if errors.Is(err, db.ErrNotFound) {
		return nil, fmt.Errorf("%w: controller %q is not registered", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("get controller %q: %w", name, err)
	}
	return &c, nil
}

// ModelCounts returns the number of models on each controller, by id.
func (r *Registry) ModelCounts(ctx context.Context) (map[uint]int, error) {
	var rows []struct {
		ControllerID uint
		N            int
	}
	if err := r.db.WithContext(ctx).Model(&db.Model{}).Select("controller_id, COUNT(*) AS n").Group("controller_id").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("count models by controller: %w", err)
	}
	out := make(map[uint]int, len(rows))
	for _, row := range rows {
		out[row.ControllerID] = row.N
	}
	return out, nil
}

// Remove unregisters a controller. While it hosts models it is refused,
// unless force is set, which also drops those models' routes.
func (r *Registry) Remove(ctx context.Context, name string, force bool) error {
	return r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var c db.Controller
		if err := tx.Where("name = ?", name).First(&c).Error; err != nil {
			if errors.Is(err, db.ErrNotFound) {
				return fmt.Errorf("%w: controller %q is not registered", ErrNotFound, name)
			}
			return fmt.Errorf("remove controller %q: %w", name, err)
		}
		var models []string
		if err := tx.Model(&db.Model{}).Where("controller_id = ?", c.ID).Pluck("uuid", &models).Error; err != nil {
			return fmt.Errorf("remove controller %q: %w", name, err)
		}
		if len(models) > 0 && !force {
			return fmt.Errorf("%w: controller %q hosts %d models: migrate them first, or use --force to forget them", ErrHasModels, name, len(models))
		}
		if len(models) > 0 {
			if err := tx.Where("object_kind = 'model' AND object_id IN ?", models).Delete(&db.Relation{}).Error; err != nil {
				return fmt.Errorf("remove controller %q: %w", name, err)
			}
			if err := tx.Where("controller_id = ?", c.ID).Delete(&db.Model{}).Error; err != nil {
				return fmt.Errorf("remove controller %q: %w", name, err)
			}
		}
		if err := tx.Delete(&c).Error; err != nil {
			return fmt.Errorf("remove controller %q: %w", name, err)
		}
		r.log.Info("controller removed", "controller", name, "forced", force, "models-forgotten", len(models))
		return nil
	})
}

// SetDeprecated marks a controller deprecated (no new models) or not.
func (r *Registry) SetDeprecated(ctx context.Context, name string, deprecated bool) (*db.Controller, error) {
	res := r.db.WithContext(ctx).Model(&db.Controller{}).Where("name = ?", name).Update("deprecated", deprecated)
	if res.Error != nil {
		return nil, fmt.Errorf("deprecate controller %q: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("%w: controller %q is not registered", ErrNotFound, name)
	}
	return r.Get(ctx, name)
}

// Resolve returns how to reach and log in to a controller: a Resolver for
// the Pool.
func (r *Registry) Resolve(ctx context.Context, name string) (Endpoint, Credentials, error) {
	c, err := r.Get(ctx, name)
	if err != nil {
		return Endpoint{}, Credentials{}, err
	}
	password, err := r.sealer.Open(c.AdminPassword, passwordAAD(c.UUID))
	if err != nil {
		return Endpoint{}, Credentials{}, fmt.Errorf("controller %q credentials: %w", name, err)
	}
	return EndpointOf(c), Credentials{User: c.AdminUser, Password: string(password)}, nil
}

// EndpointOf returns how to reach a stored controller.
func EndpointOf(c *db.Controller) Endpoint {
	return Endpoint{Name: c.Name, UUID: c.UUID, Addresses: c.Addresses, CACert: c.CACert, TLSServerName: c.TLSServerName}
}
