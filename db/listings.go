package db

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ListedModel is a model as the model listings show it: the fields of its
// route they need, its hosting controller's agent version and cloud type,
// and one relation the listing's subjects have to it.
type ListedModel struct {
	UUID, Name, Owner, Type, Cloud, Region, Life string
	UpdatedAt                                    time.Time
	MachineCount, CoreCount, UnitCount           int64
	AgentVersion                                 string // of the hosting controller
	CloudType                                    string // of the hosting controller's cloud, e.g. "lxd"
	// Relation is the stored relation (administrator, writer, reader);
	// "" when every model is listed.
	Relation string
}

// listedColumns are the columns of a ListedModel but its relation, in the
// order EachModelFor scans them.
const listedColumns = "models.uuid, models.name, models.owner, models.type, models.cloud, models.region, models.life, models.updated_at, " +
	"models.machine_count, models.core_count, models.unit_count, controllers.agent_version, controllers.cloud_type"

// EachModelFor is ModelsFor streamed: it calls fn with each row as it is
// read, in one query, ordered by owner and name (unique together: the
// rows of one model, one per relation, come one after the other). fn is given the
// same *ListedModel each time, overwritten by the next row: it must copy
// what it keeps. An error from fn stops the listing and is returned.
func (d *DB) EachModelFor(ctx context.Context, subjects, controllers []string, fn func(*ListedModel) error) error {
	const from = " FROM models JOIN controllers ON controllers.id = models.controller_id"
	const related = "SELECT " + listedColumns + ", relations.relation AS relation" + from +
		" JOIN relations ON relations.object_kind = 'model' AND relations.object_id = models.uuid WHERE relations.subject IN ?"
	var q *gorm.DB
	switch {
	case subjects == nil:
		q = d.WithContext(ctx).Raw("SELECT " + listedColumns + ", '' AS relation" + from + " ORDER BY models.owner, models.name")
	case len(controllers) == 0:
		q = d.WithContext(ctx).Raw(related+" ORDER BY models.owner, models.name", subjects)
	default:
		q = d.WithContext(ctx).Raw("SELECT * FROM ("+related+" UNION ALL SELECT "+listedColumns+", 'administrator' AS relation"+from+
			" WHERE controllers.name IN ?) AS listed ORDER BY owner, name", subjects, controllers)
	}
	rows, err := q.Rows()
	if err != nil {
		return fmt.Errorf("list models: %w", err)
	}
	defer rows.Close()
	var m ListedModel
	dest := []any{&m.UUID, &m.Name, &m.Owner, &m.Type, &m.Cloud, &m.Region, &m.Life, &m.UpdatedAt,
		&m.MachineCount, &m.CoreCount, &m.UnitCount, &m.AgentVersion, &m.CloudType, &m.Relation}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("list models: read a row: %w", err)
		}
		if err := fn(&m); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list models: %w", err)
	}
	return nil
}
