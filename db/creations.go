package db

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// Model creation states (ModelCreation.State).
const (
	CreationCreating = "creating"
	CreationSweeping = "sweeping"
)

// BeginModelCreation records that c.Owner's model c.Name is being created,
// before any controller is asked. While one is being created, another
// creation of the same owner and name fails with ErrDuplicate, as does one
// whose owner has a model of that name already.
func (d *DB) BeginModelCreation(ctx context.Context, c *ModelCreation) error {
	c.State = CreationCreating
	if c.Controllers == nil {
		c.Controllers = []string{}
	}
	err := d.Tx(ctx, func(tx *gorm.DB, _ func(string, string)) error {
		var n int64
		if err := tx.Model(&Model{}).Where("owner = ? AND name = ?", c.Owner, c.Name).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrDuplicate
		}
		return tx.Create(c).Error
	})
	if err != nil {
		return fmt.Errorf("record the creation of model %q for %s: %w", c.Name, c.Owner, err)
	}
	return nil
}

// ModelCreationTrying records, before the call, that controller is being
// asked to create the model of creation id.
func (d *DB) ModelCreationTrying(ctx context.Context, id int64, controller string) error {
	err := d.Tx(ctx, func(tx *gorm.DB, _ func(string, string)) error {
		var c ModelCreation
		if err := tx.First(&c, id).Error; err != nil {
			return err
		}
		if !slices.Contains(c.Controllers, controller) {
			c.Controllers = append(c.Controllers, controller)
		}
		return tx.Model(&c).Select("controllers", "updated_at").Updates(&c).Error
	})
	if err != nil {
		return fmt.Errorf("record that controller %q is asked for model creation %d: %w", controller, id, err)
	}
	return nil
}

// FinishModelCreation records the created model m (its route, and
// ownerSubject as its administrator, as AddModel does) and, in the same
// transaction, ends creation id: it is removed when sweep is false, else
// kept as a sweep of the other controllers asked, which may yet create the
// model late.
func (d *DB) FinishModelCreation(ctx context.Context, id int64, m *Model, ownerSubject string, sweep bool) error {
	return d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		if err := addModel(tx, notify, m, ownerSubject); err != nil {
			return err
		}
		return endCreation(tx, id, m.UUID, sweep)
	})
}

// EndModelCreation ends creation id with no model recorded: removed when
// sweep is false, else kept as a sweep of the controllers asked.
func (d *DB) EndModelCreation(ctx context.Context, id int64, sweep bool) error {
	if err := endCreation(d.WithContext(ctx), id, "", sweep); err != nil {
		return fmt.Errorf("end model creation %d: %w", id, err)
	}
	return nil
}

func endCreation(tx *gorm.DB, id int64, uuid string, sweep bool) error {
	if !sweep {
		return tx.Delete(&ModelCreation{}, id).Error
	}
	return tx.Model(&ModelCreation{}).Where("id = ?", id).
		Updates(map[string]any{"state": CreationSweeping, "model_uuid": uuid, "updated_at": time.Now().UTC()}).Error
}

// ModelCreations returns every creation not yet finished, oldest first.
func (d *DB) ModelCreations(ctx context.Context) ([]ModelCreation, error) {
	var out []ModelCreation
	if err := d.WithContext(ctx).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list model creations: %w", err)
	}
	return out, nil
}

// RemoveModelCreation forgets creation id, if it was not updated since
// updatedAt (so a replica still at it keeps it); it reports whether it
// did.
func (d *DB) RemoveModelCreation(ctx context.Context, id int64, updatedAt time.Time) (bool, error) {
	res := d.WithContext(ctx).Where("id = ? AND updated_at <= ?", id, updatedAt.UTC()).Delete(&ModelCreation{})
	if res.Error != nil {
		return false, fmt.Errorf("remove model creation %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// AdoptModel records model m, found on its controller, as ownerSubject's
// (as AddModel does) and removes creation id if it is not 0, in one
// transaction. A model of the same UUID, or owner and name, fails with
// ErrDuplicate.
func (d *DB) AdoptModel(ctx context.Context, m *Model, ownerSubject string, creation int64) error {
	err := d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		var n int64
		if err := tx.Model(&Model{}).Where("uuid = ? OR (owner = ? AND name = ?)", m.UUID, m.Owner, m.Name).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrDuplicate
		}
		if err := addModel(tx, notify, m, ownerSubject); err != nil {
			return err
		}
		if creation != 0 {
			return tx.Delete(&ModelCreation{}, creation).Error
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("adopt model %s (%s/%s): %w", m.UUID, m.Owner, m.Name, err)
	}
	return nil
}

// ModelCreationByName returns the creation in progress of owner's model
// name, or ErrNotFound.
func (d *DB) ModelCreationByName(ctx context.Context, owner, name string) (*ModelCreation, error) {
	var c ModelCreation
	err := d.WithContext(ctx).Where("owner = ? AND name = ? AND state = ?", owner, name, CreationCreating).First(&c).Error
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("look up the creation of model %q for %s: %w", name, owner, err)
	}
	return &c, nil
}
