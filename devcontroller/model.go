package devcontroller

import (
	"fmt"
	"github.com/google/uuid"
	"strconv"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// newModel returns a new, empty, available model.
func (c *Controller) newModel(name, owner, region string) *store.Model {
	now := time.Now().UTC()
	return &store.Model{
		UUID: uuid.NewString(), Name: name, Owner: owner, Type: "iaas",
		Cloud: c.cfg.Cloud, CloudType: c.cfg.CloudType, Region: region,
		Life:         store.LifeAlive,
		Status:       store.Status{Status: "available", Since: now},
		AgentVersion: c.cfg.AgentVersion,
		CreatedAt:    now,
		Config:       map[string]any{},
		Users:        map[string]string{owner: store.AccessAdmin},
		Machines:     map[string]*store.Machine{},
		Applications: map[string]*store.Application{},
	}
}

// addMachine adds a machine to m, started at once, and returns it. Its
// constraints are the model's merged with cons, as Juju resolves them.
// The instance id and address are made up from the model and machine ids.
func (c *Controller) addMachine(m *store.Model, base store.Base, cons params.Constraints) *store.Machine {
	id := strconv.Itoa(m.NextMachineID)
	m.NextMachineID++
	now := time.Now().UTC()
	n := m.NextMachineID
	mc := &store.Machine{
		ID:             id,
		Base:           base,
		InstanceID:     fmt.Sprintf("juju-%s-%s", m.UUID[len(m.UUID)-6:], id),
		Hostname:       fmt.Sprintf("juju-%s-%s", m.UUID[len(m.UUID)-6:], id),
		Address:        fmt.Sprintf("10.%d.%d.%d", 100+n/65536%100, n/256%256, n%256),
		Cons:           mergeConstraints(m.Constraints, cons),
		AgentStatus:    store.Status{Status: "started", Since: now},
		InstanceStatus: store.Status{Status: "running", Info: "Running", Since: now},
		CreatedAt:      now,
		AgentPassword:  randomPassword(),
	}
	mc.Constraints = formatConstraints(mc.Cons)
	m.Machines[id] = mc
	return mc
}

func countUnits(m *store.Model) int {
	n := 0
	for _, a := range m.Applications {
		n += len(a.Units)
	}
	return n
}

// defaultConfig is the model config every model starts with, before the
// model's own settings.
func (c *Controller) defaultConfig(m *store.Model) map[string]any {
	return map[string]any{
		"name":                        m.Name,
		"uuid":                        m.UUID,
		"type":                        m.CloudType,
		"agent-version":               m.AgentVersion,
		"default-base":                "ubuntu@22.04",
		"logging-config":              "<root>=INFO",
		"development":                 false,
		"automatically-retry-hooks":   true,
		"enable-os-upgrade":           true,
		"update-status-hook-interval": "5m",
		"firewall-mode":               "instance",
		"provisioner-harvest-mode":    "destroyed",
		"charmhub-url":                defaultCharmhubURL,
		secretBackendKey:              secretBackendAuto,
	}
}

// fixedConfig names the keys a client may not set or unset.
var fixedConfig = map[string]bool{"name": true, "uuid": true, "type": true, "agent-version": true}
