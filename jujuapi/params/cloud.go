package params

// Cloud describes a cloud known to the controller.
type Cloud struct {
	// Type is the provider type, e.g. "lxd" or "ec2".
	Type string `json:"type"`
	// HostCloudRegion is "<cloud>/<region>" of the cloud hosting a k8s cloud.
	HostCloudRegion string `json:"host-cloud-region,omitempty"`
	// AuthTypes lists the supported credential types.
	AuthTypes []string `json:"auth-types,omitempty"`
	// Endpoint is the cloud's API endpoint.
	Endpoint string `json:"endpoint,omitempty"`
	// IdentityEndpoint is the identity service endpoint.
	IdentityEndpoint string `json:"identity-endpoint,omitempty"`
	// StorageEndpoint is the storage service endpoint.
	StorageEndpoint string `json:"storage-endpoint,omitempty"`
	// Regions lists the cloud's regions.
	Regions []CloudRegion `json:"regions,omitempty"`
	// CACertificates holds extra CA certificates (PEM) for the endpoints.
	CACertificates []string `json:"ca-certificates,omitempty"`
	// SkipTLSVerify disables endpoint certificate checks.
	SkipTLSVerify bool `json:"skip-tls-verify,omitempty"`
	// Config holds cloud-wide model config defaults.
	Config map[string]any `json:"config,omitempty"`
	// RegionConfig holds per-region model config defaults.
	RegionConfig map[string]map[string]any `json:"region-config,omitempty"`
	// IsControllerCloud marks the cloud the controller runs in.
	IsControllerCloud bool `json:"is-controller-cloud,omitempty"`
}

// CloudRegion is one region of a cloud.
type CloudRegion struct {
	// Name is the region name.
	Name string `json:"name"`
	// Endpoint is the region's API endpoint.
	Endpoint string `json:"endpoint,omitempty"`
	// IdentityEndpoint is the region's identity endpoint.
	IdentityEndpoint string `json:"identity-endpoint,omitempty"`
	// StorageEndpoint is the region's storage endpoint.
	StorageEndpoint string `json:"storage-endpoint,omitempty"`
}

// CloudResult holds a Cloud or an error.
type CloudResult struct {
	// Cloud is the cloud definition.
	Cloud *Cloud `json:"cloud,omitempty"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// CloudResults is the result of Cloud.Cloud.
type CloudResults struct {
	// Results holds one entry per requested cloud.
	Results []CloudResult `json:"results,omitempty"`
}

// CloudsResult is the result of Cloud.Clouds, keyed by cloud tag ("cloud-<name>").
type CloudsResult struct {
	// Clouds maps cloud tags to clouds.
	Clouds map[string]Cloud `json:"clouds,omitempty"`
}
