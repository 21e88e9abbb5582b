package db

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// FleetJob is an evacuation or a rebalance: a plan of migrations the
// broker runs a few at a time. A replica runs it while it holds the lease
// named by FleetJobLease.
type FleetJob struct {
	ID         int64     `gorm:"primaryKey"`
	CreatedAt  time.Time `gorm:"not null"`
	UpdatedAt  time.Time `gorm:"not null"`
	Kind       string    `gorm:"not null"`
	Controller string    `gorm:"not null;default:''"` // evacuated
	Measure    string    `gorm:"not null;default:''"` // rebalanced by
	Parallel   int       `gorm:"not null"`
	Force      bool      `gorm:"not null;default:false"`
	State      string    `gorm:"not null"`
	EndedAt    *time.Time
	// Plan is the rest of the plan as JSON: unplaced models, loads before
	// and after.
	Plan  string      `gorm:"not null;default:''"`
	Moves []FleetMove `gorm:"foreignKey:JobID"`
}

// FleetMove is one migration of a fleet job, in plan order (Seq).
type FleetMove struct {
	ID          int64     `gorm:"primaryKey"`
	UpdatedAt   time.Time `gorm:"not null"`
	JobID       int64     `gorm:"not null"`
	Seq         int       `gorm:"not null"`
	ModelUUID   string    `gorm:"column:model_uuid;not null"`
	Model       string    `gorm:"not null"` // owner/name
	Source      string    `gorm:"not null"`
	Target      string    `gorm:"not null"`
	Agents      int       `gorm:"not null;default:0"`
	EstimateMS  int64     `gorm:"column:estimate_ms;not null;default:0"`
	State       string    `gorm:"not null"`
	MigrationID int64     `gorm:"not null;default:0"`
	Error       string    `gorm:"not null;default:''"`
}

// Fleet job and move states, as stored.
const (
	FleetJobRunning = "running"
	FleetJobDone    = "done"

	MovePending   = "pending"
	MoveRunning   = "running"
	MoveSucceeded = "succeeded"
	MoveFailed    = "failed"
)

// FleetJobLease names the lease a replica holds while it runs job id.
func FleetJobLease(id int64) string { return fmt.Sprintf("fleet-job-%d", id) }

// AddFleetJob records a new running job and its moves in one transaction.
func (d *DB) AddFleetJob(ctx context.Context, j *FleetJob) error {
	err := d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		moves := j.Moves
		j.Moves = nil
		if err := tx.Create(j).Error; err != nil {
			return err
		}
		for i := range moves {
			moves[i].JobID, moves[i].Seq = j.ID, i
		}
		if len(moves) > 0 {
			if err := tx.Create(&moves).Error; err != nil {
				return err
			}
		}
		j.Moves = moves
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %s job: %w", j.Kind, err)
	}
	return nil
}

func preloadMoves(tx *gorm.DB) *gorm.DB { return tx.Order("seq") }

// FleetJob returns job id with its moves.
func (d *DB) FleetJob(ctx context.Context, id int64) (*FleetJob, error) {
	var j FleetJob
	if err := d.WithContext(ctx).Preload("Moves", preloadMoves).Where("id = ?", id).First(&j).Error; err != nil {
		return nil, fmt.Errorf("fleet job %d: %w", id, err)
	}
	return &j, nil
}

// FleetJobs returns the latest limit jobs, newest first, with their moves.
func (d *DB) FleetJobs(ctx context.Context, limit int) ([]FleetJob, error) {
	var out []FleetJob
	if err := d.WithContext(ctx).Preload("Moves", preloadMoves).Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list fleet jobs: %w", err)
	}
	return out, nil
}

// RunningFleetJobs returns the ids of the jobs not ended.
func (d *DB) RunningFleetJobs(ctx context.Context) ([]int64, error) {
	var ids []int64
	if err := d.WithContext(ctx).Model(&FleetJob{}).Where("state = ?", FleetJobRunning).Order("id").Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("list running fleet jobs: %w", err)
	}
	return ids, nil
}

// SetFleetMove records a move's state, its migration (0: none) and error.
func (d *DB) SetFleetMove(ctx context.Context, id int64, state string, migrationID int64, errText string) error {
	err := d.WithContext(ctx).Model(&FleetMove{}).Where("id = ?", id).
		Updates(map[string]any{"state": state, "migration_id": migrationID, "error": errText, "updated_at": time.Now().UTC()}).Error
	if err != nil {
		return fmt.Errorf("record move %d: %w", id, err)
	}
	return nil
}

// EndFleetJob marks job id done at at.
func (d *DB) EndFleetJob(ctx context.Context, id int64, at time.Time) error {
	err := d.WithContext(ctx).Model(&FleetJob{}).Where("id = ? AND state = ?", id, FleetJobRunning).
		Updates(map[string]any{"state": FleetJobDone, "ended_at": at.UTC(), "updated_at": at.UTC()}).Error
	if err != nil {
		return fmt.Errorf("end fleet job %d: %w", id, err)
	}
	return nil
}

// Load is what a controller carries: its models and their sizes as last
// seen. Agents are machines plus units (subordinates included).
type Load struct {
	Models, Machines, Units int
}

// Agents is the number of agents of the load's models.
func (l Load) Agents() int { return l.Machines + l.Units }

// ControllerLoads returns every registered controller's load, by name (a
// controller hosting nothing has a zero Load).
func (d *DB) ControllerLoads(ctx context.Context) (map[string]Load, error) {
	var rows []struct {
		Name     string
		Models   int
		Machines int
		Units    int
	}
	err := d.WithContext(ctx).Table("controllers").
		Select("controllers.name AS name, COUNT(models.id) AS models, COALESCE(SUM(models.machine_count), 0) AS machines, COALESCE(SUM(models.unit_count), 0) AS units").
		Joins("LEFT JOIN models ON models.controller_id = controllers.id").
		Group("controllers.name").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("sum the load of each controller: %w", err)
	}
	out := make(map[string]Load, len(rows))
	for _, r := range rows {
		out[r.Name] = Load{Models: r.Models, Machines: r.Machines, Units: r.Units}
	}
	return out, nil
}
