package devcontroller

import (
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// ControllerFile is controller.yaml: everything a broker needs to register
// this controller. It holds the admin password, so it is written mode 0600.
type ControllerFile struct {
	Name          string   `yaml:"name"`
	UUID          string   `yaml:"uuid"`
	APIAddresses  []string `yaml:"api-addresses"`
	CACert        string   `yaml:"ca-cert"`
	AdminUser     string   `yaml:"admin-user"`
	AdminPassword string   `yaml:"admin-password"`
	Cloud         string   `yaml:"cloud"`
	CloudType     string   `yaml:"cloud-type"`
	CloudEndpoint string   `yaml:"cloud-endpoint,omitempty"`
	Regions       []string `yaml:"regions"`
	AgentVersion  string   `yaml:"agent-version"`
}

// ControllerFileName is the file's name inside the data directory.
const ControllerFileName = "controller.yaml"

// ReadControllerFile reads a controller.yaml.
func ReadControllerFile(path string) (*ControllerFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read controller file: %w", err)
	}
	var f ControllerFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("parse controller file %s: %w", path, err)
	}
	if f.UUID == "" || len(f.APIAddresses) == 0 || f.CACert == "" {
		return nil, fmt.Errorf("controller file %s lacks uuid, api-addresses or ca-cert", path)
	}
	return &f, nil
}

// writeFileAtomic writes data to path through a synced temporary file and a
// rename, so that a crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err == nil {
		if _, err = tmp.Write(data); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func (f *ControllerFile) write(path string) error {
	raw, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode controller file: %w", err)
	}
	return writeFileAtomic(path, raw, 0o600)
}
