package db

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// PutCloudCredential adds a cloud credential, or replaces the auth type
// and attributes of the one of the same cloud, owner and name.
func (d *DB) PutCloudCredential(ctx context.Context, c *CloudCredential) error {
	err := d.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "cloud"}, {Name: "owner"}, {Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"auth_type", "attributes", "updated_at"}),
	}).Create(c).Error
	if err != nil {
		return fmt.Errorf("store credential %s: %w", c.Key(), err)
	}
	return nil
}

// CloudCredential returns one credential, or ErrNotFound.
func (d *DB) CloudCredential(ctx context.Context, cloud, owner, name string) (*CloudCredential, error) {
	var c CloudCredential
	err := d.WithContext(ctx).Where("cloud = ? AND owner = ? AND name = ?", cloud, owner, name).First(&c).Error
	if err != nil {
		return nil, fmt.Errorf("look up credential %s/%s/%s: %w", cloud, owner, name, err)
	}
	return &c, nil
}

// CloudCredentials returns owner's credentials, for cloud (every cloud
// when ""), by cloud and name.
func (d *DB) CloudCredentials(ctx context.Context, owner, cloud string) ([]CloudCredential, error) {
	q := d.WithContext(ctx).Where("owner = ?", owner)
	if cloud != "" {
		q = q.Where("cloud = ?", cloud)
	}
	var out []CloudCredential
	if err := q.Order("cloud, name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list the credentials of %q: %w", owner, err)
	}
	return out, nil
}

// ModelsUsingCredential returns the models that use the credential
// "<cloud>/<owner>/<name>", with their controllers.
func (d *DB) ModelsUsingCredential(ctx context.Context, key string) ([]Model, error) {
	var out []Model
	if err := d.WithContext(ctx).Preload("Controller").Where("credential = ?", key).Order("owner, name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list the models using credential %s: %w", key, err)
	}
	return out, nil
}

// RemoveCloudCredential deletes a credential; ErrNotFound when there is
// none.
func (d *DB) RemoveCloudCredential(ctx context.Context, cloud, owner, name string) error {
	res := d.WithContext(ctx).Where("cloud = ? AND owner = ? AND name = ?", cloud, owner, name).Delete(&CloudCredential{})
	if res.Error != nil {
		return fmt.Errorf("remove credential %s/%s/%s: %w", cloud, owner, name, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("remove credential %s/%s/%s: %w", cloud, owner, name, ErrNotFound)
	}
	return nil
}

// ModelDefaults returns the model defaults of a cloud, its own and its
// regions', by region ("" first) and key.
func (d *DB) ModelDefaults(ctx context.Context, cloud string) ([]ModelDefault, error) {
	var out []ModelDefault
	if err := d.WithContext(ctx).Where("cloud = ?", cloud).Order("region, key").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("read the model defaults of cloud %q: %w", cloud, err)
	}
	return out, nil
}

// SetModelDefaults sets model defaults of a cloud, or of a region of it
// (region ""  for the whole cloud): values maps keys to JSON values.
func (d *DB) SetModelDefaults(ctx context.Context, cloud, region string, values map[string]string, at time.Time) error {
	if len(values) == 0 {
		return nil
	}
	rows := make([]ModelDefault, 0, len(values))
	for k, v := range values {
		rows = append(rows, ModelDefault{UpdatedAt: at.UTC(), Cloud: cloud, Region: region, Key: k, Value: v})
	}
	err := d.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "cloud"}, {Name: "region"}, {Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"value", "updated_at"}),
	}).Create(&rows).Error
	if err != nil {
		return fmt.Errorf("set model defaults of %s: %w", where(cloud, region), err)
	}
	return nil
}

// UnsetModelDefaults removes model defaults of a cloud or of one of its
// regions; keys that are not set are ignored.
func (d *DB) UnsetModelDefaults(ctx context.Context, cloud, region string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	err := d.WithContext(ctx).Where("cloud = ? AND region = ? AND key IN ?", cloud, region, keys).Delete(&ModelDefault{}).Error
	if err != nil {
		return fmt.Errorf("unset model defaults of %s: %w", where(cloud, region), err)
	}
	return nil
}

func where(cloud, region string) string {
	if region == "" {
		return "cloud " + cloud
	}
	return "cloud " + cloud + " region " + region
}
