package db

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Notification channels between broker replicas. Each named function
// below that changes what a channel's listeners cache notifies it in the
// same transaction.
const (
	// RoutesChannel carries route changes: a model UUID, or "" for
	// "anything may have changed".
	RoutesChannel = "jimm_routes"
	// CutoverChannel carries the UUID of a model whose migration reached
	// the hand-over (SUCCESS or later).
	CutoverChannel = "jimm_cutover"
	// KeysChannel says that the signing keys changed.
	KeysChannel = "jimm_keys"
	// RelationsChannel says that relation tuples or groups changed.
	RelationsChannel = "jimm_relations"
	// ControllersChannel carries controller changes (added, removed,
	// deprecated or undeprecated, updated): a controller's name, or "" for
	// "anything may have changed".
	ControllersChannel = "jimm_controllers"
	// SessionsChannel says that sessions ended or identities were disabled
	// (see SessionLoggedOut, IdentityDisabled, IdentityEnabled).
	SessionsChannel = "jimm_sessions"
)

// Model lives.
const (
	LifeAlive = "alive"
	LifeDying = "dying"
)

// ModelByUUID returns a model's route, with its controller, or ErrNotFound.
func (d *DB) ModelByUUID(ctx context.Context, uuid string) (*Model, error) {
	var m Model
	if err := d.WithContext(ctx).Preload("Controller").Where("uuid = ?", uuid).First(&m).Error; err != nil {
		return nil, fmt.Errorf("look up model %s: %w", uuid, err)
	}
	return &m, nil
}

// Models returns every model with its controller, by owner and name.
func (d *DB) Models(ctx context.Context) ([]Model, error) {
	var out []Model
	if err := d.WithContext(ctx).Preload("Controller").Order("owner, name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	return out, nil
}

// ModelByOwnerName returns owner's model called name, with its controller,
// or ErrNotFound.
func (d *DB) ModelByOwnerName(ctx context.Context, owner, name string) (*Model, error) {
	var m Model
	if err := d.WithContext(ctx).Preload("Controller").Where("owner = ? AND name = ?", owner, name).First(&m).Error; err != nil {
		return nil, fmt.Errorf("look up model %q of %s: %w", name, owner, err)
	}
	return &m, nil
}

// AddModel records a new model's route and makes ownerSubject its
// administrator, in one transaction, and tells every replica. A model of the same owner and name,
// or UUID, fails with ErrDuplicate.
func (d *DB) AddModel(ctx context.Context, m *Model, ownerSubject string) error {
	return d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		return addModel(tx, notify, m, ownerSubject)
	})
}

func addModel(tx *gorm.DB, notify func(string, string), m *Model, ownerSubject string) error {
	if err := tx.Create(m).Error; err != nil {
		return err
	}
	notify(RoutesChannel, m.UUID)
	notify(RelationsChannel, "")
	return tx.Create(&Relation{Subject: ownerSubject, Relation: "administrator", ObjectKind: "model", ObjectID: m.UUID}).Error
}

// modelAdminsChunk bounds the UUIDs of one ModelAdmins query (SQLite
// and PostgreSQL both limit a statement's parameters).
const modelAdminsChunk = 1000

// ModelAdmins returns the users (names, without "user:") with the
// administrator relation to each of the models uuids, sorted; models with
// none are absent. Groups' members are not listed.
func (d *DB) ModelAdmins(ctx context.Context, uuids []string) (map[string][]string, error) {
	out := map[string][]string{}
	for start := 0; start < len(uuids); start += modelAdminsChunk {
		chunk := uuids[start:min(start+modelAdminsChunk, len(uuids))]
		var rels []Relation
		err := d.WithContext(ctx).Select("subject", "object_id").
			Where("object_kind = 'model' AND relation = 'administrator' AND subject LIKE 'user:%' AND object_id IN ?", chunk).
			Order("object_id, subject").Find(&rels).Error
		if err != nil {
			return nil, fmt.Errorf("list the administrators of %d models: %w", len(chunk), err)
		}
		for _, r := range rels {
			out[r.ObjectID] = append(out[r.ObjectID], strings.TrimPrefix(r.Subject, "user:"))
		}
	}
	return out, nil
}

// SetModelLife records a model's life (e.g. LifeDying) and tells every
// replica that its route changed.
func (d *DB) SetModelLife(ctx context.Context, uuid, life string) error {
	err := d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		notify(RoutesChannel, uuid)
		return tx.Model(&Model{}).Where("uuid = ?", uuid).Update("life", life).Error
	})
	if err != nil {
		return fmt.Errorf("record model %s %s: %w", uuid, life, err)
	}
	return nil
}

// RemoveModel forgets a model, with every relation to it, and tells every
// replica. It returns the name of the controller that hosted it, or
// ErrNotFound.
func (d *DB) RemoveModel(ctx context.Context, uuid string) (controller string, err error) {
	err = d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		notify(RoutesChannel, uuid)
		notify(RelationsChannel, "")
		var m Model
		if err := tx.Preload("Controller").Where("uuid = ?", uuid).First(&m).Error; err != nil {
			return err
		}
		if err := tx.Where("object_kind = 'model' AND object_id = ?", uuid).Delete(&Relation{}).Error; err != nil {
			return err
		}
		controller = m.Controller.Name
		return tx.Delete(&m).Error
	})
	if err != nil {
		return "", fmt.Errorf("remove model %s: %w", uuid, err)
	}
	return controller, nil
}

// SetModelCounts records a model's machine and unit counts as last seen
// on its controller; a negative count is left as it is.
func (d *DB) SetModelCounts(ctx context.Context, uuid string, machines, units int) error {
	set := map[string]any{}
	if machines >= 0 {
		set["machine_count"], set["core_count"] = machines, machines
	}
	if units >= 0 {
		set["unit_count"] = units
	}
	if len(set) == 0 {
		return nil
	}
	if err := d.WithContext(ctx).Model(&Model{}).Where("uuid = ?", uuid).Updates(set).Error; err != nil {
		return fmt.Errorf("record the counts of model %s: %w", uuid, err)
	}
	return nil
}

// FlipRoute points a model at the controller targetID in one transaction,
// ending the migration migrationID (when not 0) as succeeded in the same
// transaction, and tells every replica. It returns the name of the
// controller the model was on.
func (d *DB) FlipRoute(ctx context.Context, uuid string, targetID uint, migrationID int64, at time.Time) (from string, err error) {
	err = d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		var m Model
		if err := tx.Preload("Controller").Where("uuid = ?", uuid).First(&m).Error; err != nil {
			return err
		}
		from = m.Controller.Name
		if err := tx.Model(&Model{}).Where("uuid = ?", uuid).Updates(map[string]any{"controller_id": targetID, "updated_at": at}).Error; err != nil {
			return err
		}
		if migrationID != 0 {
			res := tx.Model(&Migration{}).Where("id = ?", migrationID).Updates(map[string]any{
				"result": MigrationSucceeded, "phase": "DONE", "ended_at": at, "lease_owner": "",
			})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return fmt.Errorf("migration %d: %w", migrationID, ErrNotFound)
			}
		}
		notify(RoutesChannel, uuid)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("flip the route of model %s: %w", uuid, err)
	}
	return from, nil
}

// ControllerByUUID returns a registered controller by its UUID, or
// ErrNotFound.
func (d *DB) ControllerByUUID(ctx context.Context, uuid string) (*Controller, error) {
	var c Controller
	if err := d.WithContext(ctx).Where("uuid = ?", uuid).First(&c).Error; err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("no controller with UUID %s: %w", uuid, err)
		}
		return nil, fmt.Errorf("look up controller %s: %w", uuid, err)
	}
	return &c, nil
}
