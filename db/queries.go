package db

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm/clause"
)

// Setting returns the value of a broker-wide setting, creating it with
// value init() the first time. Replicas starting together agree: the
// first insert wins and the others read it.
func (d *DB) Setting(ctx context.Context, name string, init func() string) (string, error) {
	row := map[string]any{"name": name, "value": init()}
	if err := d.WithContext(ctx).Table("settings").Clauses(clause.OnConflict{DoNothing: true}).Create(row).Error; err != nil {
		return "", fmt.Errorf("create setting %q: %w", name, err)
	}
	var value string
	if err := d.WithContext(ctx).Table("settings").Where("name = ?", name).Select("value").Scan(&value).Error; err != nil {
		return "", fmt.Errorf("read setting %q: %w", name, err)
	}
	if value == "" {
		return "", fmt.Errorf("read setting %q: %w", name, errors.New("empty value"))
	}
	return value, nil
}

// ModelAccess is a model and one relation a subject has to it.
type ModelAccess struct {
	Model
	Relation     string
	AgentVersion string // of the hosting controller
	CloudType    string // of the hosting controller's cloud, e.g. "lxd"
}

// ModelsFor returns, in one query, the live routes of the models any of
// subjects (e.g. "user:alice", "group:<uuid>#member") has a relation to,
// with the relation, and of the models hosted on the controllers named
// controllers (their administrators'), with relation "administrator"; a model
// appears once per relation. With subjects nil it returns every model,
// with an empty relation.
func (d *DB) ModelsFor(ctx context.Context, subjects, controllers []string) ([]ModelAccess, error) {
	query, args := modelsForQuery("models.*, controllers.agent_version AS agent_version, controllers.cloud_type AS cloud_type", subjects, controllers)
	var out []ModelAccess
	if err := d.WithContext(ctx).Raw(query, args...).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	return out, nil
}
