package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi/input"
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
	// ErrInUse is a controller that cannot be removed yet: a migration to
	// or from it is running.
	ErrInUse = errors.New("controller in use")
)

// Registry is the broker's list of controllers, in its database, with
// each controller's admin password sealed. Every change it makes notifies
// db.ControllersChannel (with the controller's name) in the same
// transaction, so that every replica can follow.
type Registry struct {
	db     *db.DB
	sealer Sealer
	log    *slog.Logger

	selfMu sync.RWMutex
	self   Self
}

// Self is what identifies the broker itself, so that it is never
// registered as one of its own controllers.
type Self struct {
	// UUID is the broker's controller UUID.
	UUID string
	// Addresses are the broker's host:port addresses: where it listens
	// (a host that is empty or unspecified, such as 0.0.0.0, stands for
	// every address of this machine) and its public address.
	Addresses []string
}

// SetSelf tells the registry which UUID and addresses are the broker's
// own: Add refuses a controller that has them.
func (r *Registry) SetSelf(self Self) {
	r.selfMu.Lock()
	defer r.selfMu.Unlock()
	r.self = Self{UUID: self.UUID, Addresses: slices.Clone(self.Addresses)}
}

func (r *Registry) getSelf() Self {
	r.selfMu.RLock()
	defer r.selfMu.RUnlock()
	return r.self
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

// ProbeTimeout bounds Add's verification of a controller (dialling its
// addresses, logging in, reading its clouds), within a client's patience.
const ProbeTimeout = 20 * time.Second

// CheckAddRequest checks every field of req, before anything is dialled or
// stored: required fields, lengths, characters (no control, bidirectional
// or format character), the UUID's form, the priority's range (32 bits).
// Errors wrap ErrInvalid and input.ErrInvalid, and quote little.
func CheckAddRequest(req AddRequest) error {
	bad := func(err error) error { return fmt.Errorf("%w: add controller: %w", ErrInvalid, err) }
	if err := input.Name("controller name", req.Name); err != nil {
		return bad(err)
	}
	name := req.Name
	switch {
	case req.UUID == "":
		return fmt.Errorf("%w: controller %q: uuid is required", ErrInvalid, name)
	case len(req.Addresses) == 0:
		return fmt.Errorf("%w: controller %q: at least one API address is required", ErrInvalid, name)
	case len(req.Addresses) > input.MaxList:
		return fmt.Errorf("%w: controller %q: %d API addresses: the limit is %d", ErrInvalid, name, len(req.Addresses), input.MaxList)
	case req.CACert == "":
		return fmt.Errorf("%w: controller %q: ca-cert is required", ErrInvalid, name)
	case req.AdminUser == "" || req.AdminPassword == "":
		return fmt.Errorf("%w: controller %q: admin-user and admin-password are required", ErrInvalid, name)
	}
	errs := []error{
		input.UUID("uuid", req.UUID),
		input.Lines("ca-cert", req.CACert, input.MaxCert),
		input.Text("tls-server-name", req.TLSServerName, input.MaxUser),
		input.Text("admin-user", req.AdminUser, input.MaxUser),
		input.Secret("admin-password", req.AdminPassword, input.MaxText),
		input.Int32("priority", int64(req.Priority)),
	}
	for _, addr := range req.Addresses {
		errs = append(errs, input.Text("API address", addr, input.MaxUser))
	}
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("%w: controller %q: %w", ErrInvalid, name, err)
		}
	}
	for _, addr := range req.Addresses {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return fmt.Errorf("%w: controller %q: API address %s: want host:port", ErrInvalid, name, input.Quote(addr))
		}
	}
	return nil
}

func passwordAAD(uuid string) string { return "controller/" + uuid + "/admin-password" }

// Add verifies a controller (dial with its pinned CA, log in, read its
// version, cloud and regions) and stores it. Nothing is stored if any step
// fails. The broker itself (see SetSelf) is refused with ErrInvalid: a
// request with its UUID or one of its addresses, or an address whose
// login answers with its UUID.
func (r *Registry) Add(ctx context.Context, req AddRequest) (*db.Controller, error) {
	if err := CheckAddRequest(req); err != nil {
		return nil, err
	}
	self := r.getSelf()
	if self.UUID != "" && strings.EqualFold(req.UUID, self.UUID) {
		return nil, fmt.Errorf("%w: controller %q: refusing to register the broker itself as a controller: UUID %s is the broker's own", ErrInvalid, req.Name, req.UUID)
	}
	for _, addr := range req.Addresses {
		if own, ok := isSelfAddress(ctx, addr, self.Addresses); ok {
			return nil, fmt.Errorf("%w: controller %q: refusing to register the broker itself as a controller: address %s is the broker's own (%s)", ErrInvalid, req.Name, addr, own)
		}
	}
	var taken int64
	if err := r.db.WithContext(ctx).Model(&db.Controller{}).Where("name = ? OR uuid = ?", req.Name, req.UUID).Count(&taken).Error; err != nil {
		return nil, fmt.Errorf("add controller %q: %w", req.Name, err)
	}
	if taken > 0 {
		return nil, fmt.Errorf("%w: a controller named %q or with UUID %s is already registered", ErrAlreadyExists, req.Name, req.UUID)
	}
	ep := Endpoint{Name: req.Name, UUID: req.UUID, Addresses: req.Addresses, CACert: req.CACert, TLSServerName: req.TLSServerName}
	// The login's controller UUID catches the broker behind an address
	// that is not literally its own (a proxy, a DNS alias).
	notSelf := func(uuid string) error {
		if self.UUID != "" && strings.EqualFold(uuid, self.UUID) {
			return fmt.Errorf("%w: controller %q: refusing to register the broker itself as a controller: the controller at %v answers with the broker's own UUID %s",
				ErrInvalid, req.Name, req.Addresses, uuid)
		}
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	info, err := probe(pctx, ep, Credentials{User: req.AdminUser, Password: req.AdminPassword}, notSelf)
	cancel()
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
	err = r.db.Tx(ctx, func(tx *gorm.DB, notify func(channel, payload string)) error {
		if err := tx.Create(c).Error; err != nil {
			return err
		}
		notify(db.ControllersChannel, c.Name)
		return nil
	})
	if err != nil {
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

// Remove unregisters a controller. While it hosts models it is refused,
// unless force is set, which also drops those models' routes. While a
// migration to or from it is running it is refused (ErrInUse). The
// history of its ended migrations is kept, naming it.
func (r *Registry) Remove(ctx context.Context, name string, force bool) error {
	var forgotten int
	err := r.db.Tx(ctx, func(tx *gorm.DB, notify func(channel, payload string)) error {
		var c db.Controller
		if err := tx.Where("name = ?", name).First(&c).Error; err != nil {
			if errors.Is(err, db.ErrNotFound) {
				return fmt.Errorf("%w: controller %q is not registered", ErrNotFound, name)
			}
			return fmt.Errorf("remove controller %q: %w", name, err)
		}
		var running []db.Migration
		err := tx.Select("id", "model_uuid", "model_name").
			Where("result = ? AND (source_controller_id = ? OR target_controller_id = ?)", db.MigrationRunning, c.ID, c.ID).
			Order("id").Find(&running).Error
		if err != nil {
			return fmt.Errorf("remove controller %q: look for running migrations: %w", name, err)
		}
		if len(running) > 0 {
			return fmt.Errorf("%w: controller %q: %d migration(s) to or from it are running (model %q, %s, migration %d): wait for them to end, then remove it",
				ErrInUse, name, len(running), running[0].ModelName, running[0].ModelUUID, running[0].ID)
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
			notify(db.RoutesChannel, "")
			notify(db.RelationsChannel, "")
		}
		// The migration history keeps the controller's name, and no
		// longer points at its id (a controller registered later could
		// reuse it).
		for _, side := range []string{"source", "target"} {
			res := tx.Model(&db.Migration{}).Where(side+"_controller_id = ?", c.ID).Updates(map[string]any{
				side + "_controller":    gorm.Expr("CASE WHEN "+side+"_controller = '' THEN ? ELSE "+side+"_controller END", c.Name),
				side + "_controller_id": 0,
			})
			if res.Error != nil {
				return fmt.Errorf("remove controller %q: keep its migration history: %w", name, res.Error)
			}
		}
		if err := tx.Delete(&c).Error; err != nil {
			return fmt.Errorf("remove controller %q: %w", name, err)
		}
		notify(db.ControllersChannel, name)
		forgotten = len(models)
		return nil
	})
	if err != nil {
		return err
	}
	r.log.Info("controller removed", "controller", name, "forced", force, "models-forgotten", forgotten)
	return nil
}

// SetDeprecated marks a controller deprecated (no new models) or not.
func (r *Registry) SetDeprecated(ctx context.Context, name string, deprecated bool) (*db.Controller, error) {
	var c db.Controller
	err := r.db.Tx(ctx, func(tx *gorm.DB, notify func(channel, payload string)) error {
		res := tx.Model(&db.Controller{}).Where("name = ?", name).Update("deprecated", deprecated)
		if res.Error != nil {
			return fmt.Errorf("deprecate controller %q: %w", name, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("%w: controller %q is not registered", ErrNotFound, name)
		}
		if err := tx.Where("name = ?", name).First(&c).Error; err != nil {
			return fmt.Errorf("deprecate controller %q: %w", name, err)
		}
		notify(db.ControllersChannel, name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
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
