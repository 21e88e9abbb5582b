package params

import "time"

// AddMachines is the argument of MachineManager.AddMachines.
type AddMachines struct {
	// MachineParams lists the machines to add.
	MachineParams []AddMachineParams `json:"params"`
}

// AddMachineParams describes one machine to add.
type AddMachineParams struct {
	// Base is the machine's OS; nil means the model default.
	Base *Base `json:"base,omitempty"`
	// Constraints holds the machine's constraints.
	Constraints Constraints `json:"constraints"`
	// Jobs lists the machine's jobs, usually JobHostUnits.
	Jobs []MachineJob `json:"jobs"`
	// Disks lists storage to attach when provisioning.
	Disks []StorageConstraints `json:"disks,omitempty"`
	// Placement is a placement directive, if any.
	Placement *Placement `json:"placement,omitempty"`
	// ParentId is the machine to create a container in.
	ParentId string `json:"parent-id"`
	// ContainerType is "lxd" or "kvm" for containers, else empty.
	ContainerType string `json:"container-type"`
	// InstanceId is an existing instance to adopt (manual provisioning).
	InstanceId string `json:"instance-id"`
	// Nonce is the provisioning nonce of an adopted instance.
	Nonce string `json:"nonce"`
	// HardwareCharacteristics describes an adopted instance.
	HardwareCharacteristics HardwareCharacteristics `json:"hardware-characteristics"`
	// Addrs lists the addresses of an adopted instance.
	Addrs []Address `json:"addresses"`
}

// HardwareCharacteristics describes an instance's hardware; unknown values are nil.
type HardwareCharacteristics struct {
	// Arch is the CPU architecture.
	Arch *string `json:"arch,omitempty"`
	// Mem is the memory in MiB.
	Mem *uint64 `json:"mem,omitempty"`
	// RootDisk is the root disk size in MiB.
	RootDisk *uint64 `json:"root-disk,omitempty"`
	// RootDiskSource is the root disk's storage pool.
	RootDiskSource *string `json:"root-disk-source,omitempty"`
	// CpuCores is the number of cores (note the "cpu-cores" key).
	CpuCores *uint64 `json:"cpu-cores,omitempty"`
	// CpuPower is the CPU power in hundredths of a core.
	CpuPower *uint64 `json:"cpu-power,omitempty"`
	// Tags lists provider tags.
	Tags *[]string `json:"tags,omitempty"`
	// AvailabilityZone is the instance's zone.
	AvailabilityZone *string `json:"availability-zone,omitempty"`
	// VirtType is the virtualisation type.
	VirtType *string `json:"virt-type,omitempty"`
}

// AddMachinesResult is the outcome of adding one machine.
type AddMachinesResult struct {
	// Machine is the new machine's id.
	Machine string `json:"machine"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// AddMachinesResults is the result of MachineManager.AddMachines.
type AddMachinesResults struct {
	// Machines holds one entry per requested machine.
	Machines []AddMachinesResult `json:"machines"`
}

// DestroyMachinesParams is the argument of
// MachineManager.DestroyMachineWithParams (version 10).
type DestroyMachinesParams struct {
	// MachineTags lists the machines to destroy.
	MachineTags []string `json:"machine-tags"`
	// Force removes machines even when something on them fails to go.
	Force bool `json:"force,omitempty"`
	// Keep leaves the cloud instance running.
	Keep bool `json:"keep,omitempty"`
	// DryRun only reports what would be destroyed.
	DryRun bool `json:"dry-run,omitempty"`
	// MaxWait bounds each forced removal step (nanoseconds on the wire).
	MaxWait *time.Duration `json:"max-wait,omitempty"`
}

// DestroyMachineResults is the result of MachineManager.DestroyMachineWithParams.
type DestroyMachineResults struct {
	// Results holds one entry per requested machine.
	Results []DestroyMachineResult `json:"results,omitempty"`
}

// DestroyMachineResult holds what destroying one machine removes, or an
// error.
type DestroyMachineResult struct {
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
	// Info lists what is (or would be) removed.
	Info *DestroyMachineInfo `json:"info,omitempty"`
}

// DestroyMachineInfo lists what destroying a machine removes.
type DestroyMachineInfo struct {
	// MachineId is the machine's id.
	MachineId string `json:"machine-id"`
	// DetachedStorage lists storage detached but kept.
	DetachedStorage []Entity `json:"detached-storage,omitempty"`
	// DestroyedStorage lists storage destroyed.
	DestroyedStorage []Entity `json:"destroyed-storage,omitempty"`
	// DestroyedUnits lists the units on the machine that go with it.
	DestroyedUnits []Entity `json:"destroyed-units,omitempty"`
	// DestroyedContainers lists the containers on the machine that go
	// with it.
	DestroyedContainers []DestroyMachineResult `json:"destroyed-containers,omitempty"`
}
