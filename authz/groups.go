package authz

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jimmbroker/jimm/db"
)

// Groups manages groups: named sets of users, service accounts and groups,
// stored in the groups table. Relation tuples name a group by its UUID, so
// renaming one rewrites no tuple. Membership is itself a tuple:
// <subject> member group:<uuid>.
type Groups struct {
	d        *db.DB
	onChange func() // after every write, committed or not
}

// NewGroups returns the group API over d. Relations.Groups returns one
// whose writes that Relations sees at once; other Relations see them when
// the change notification arrives.
func NewGroups(d *db.DB) *Groups { return &Groups{d: d} }

func (g *Groups) changed() {
	if g.onChange != nil {
		g.onChange()
	}
}

// AddGroup creates a group named name.
func (g *Groups) AddGroup(ctx context.Context, name string) (db.Group, error) {
	defer g.changed()
	if err := checkGroupName(name); err != nil {
		return db.Group{}, err
	}
	row := db.Group{Name: name, UUID: uuid.NewString()}
	err := g.d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		if err := tx.Create(&row).Error; err != nil {
			if errors.Is(err, db.ErrDuplicate) {
				return fmt.Errorf("group %q already exists: %w", name, err)
			}
			return fmt.Errorf("add group %q: %w", name, err)
		}
		notify(RelationsChannel, "")
		return nil
	})
	return row, err
}

// RenameGroup renames group old to new; its tuples are untouched.
func (g *Groups) RenameGroup(ctx context.Context, old, new string) error {
	defer g.changed()
	if err := checkGroupName(old); err != nil {
		return err
	}
	if err := checkGroupName(new); err != nil {
		return err
	}
	return g.d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		res := tx.Model(&db.Group{}).Where("name = ?", old).Update("name", new)
		switch {
		case errors.Is(res.Error, db.ErrDuplicate):
			return fmt.Errorf("rename group %q: group %q already exists: %w", old, new, res.Error)
		case res.Error != nil:
			return fmt.Errorf("rename group %q: %w", old, res.Error)
		case res.RowsAffected == 0:
			return fmt.Errorf("group %q not found: %w", old, db.ErrNotFound)
		}
		notify(RelationsChannel, "")
		return nil
	})
}

// RemoveGroup removes a group and, in the same transaction, every tuple
// naming it, as subject (its members' access) or object (its members).
func (g *Groups) RemoveGroup(ctx context.Context, name string) error {
	defer g.changed()
	if err := checkGroupName(name); err != nil {
		return err
	}
	return g.d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		grp, err := groupByName(tx, name, "UPDATE")
		if err != nil {
			return err
		}
		// The group first: a concurrent Add naming it either committed
		// already (and its tuple is deleted below) or finds no group.
		if err := tx.Delete(&db.Group{}, grp.ID).Error; err != nil {
			return fmt.Errorf("remove group %q: %w", name, err)
		}
		err = tx.Where("subject = ? OR (object_kind = ? AND object_id = ?)", KindGroup+":"+grp.UUID+"#member", KindGroup, grp.UUID).
			Delete(&db.Relation{}).Error
		if err != nil {
			return fmt.Errorf("remove the relations of group %q: %w", name, err)
		}
		notify(RelationsChannel, "")
		return nil
	})
}

// ListGroups returns every group, by name.
func (g *Groups) ListGroups(ctx context.Context) ([]db.Group, error) {
	var out []db.Group
	if err := g.d.WithContext(ctx).Order("name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return out, nil
}

// AddMember makes subject (user:<name>, serviceaccount:<name> or
// group:<name>#member) a member of group. Adding an existing member is not
// an error.
func (g *Groups) AddMember(ctx context.Context, group, subject string) error {
	defer g.changed()
	if err := checkGroupName(group); err != nil {
		return err
	}
	_, err := addTuple(ctx, g.d, Tuple{subject, Member, KindGroup + ":" + group})
	return err
}

// RemoveMember removes subject from group; a subject that is not a member
// is reported (wrapping db.ErrNotFound).
func (g *Groups) RemoveMember(ctx context.Context, group, subject string) error {
	defer g.changed()
	if err := checkGroupName(group); err != nil {
		return err
	}
	return removeTuple(ctx, g.d, Tuple{subject, Member, KindGroup + ":" + group})
}
