package params

// The Charms facade and the model's charms HTTP endpoint, with Juju 3.5's
// JSON names (its rpc/params/charms.go, params.go and internal.go).

// CharmURL names one charm, for Charms.CharmInfo and IsMetered.
type CharmURL struct {
	// URL is the charm URL, e.g. "local:jammy/demo-0".
	URL string `json:"url"`
}

// CharmRelation is one relation endpoint a charm declares.
type CharmRelation struct {
	Name      string `json:"name"`
	Role      string `json:"role"` // provider, requirer or peer
	Interface string `json:"interface"`
	Optional  bool   `json:"optional"`
	Limit     int    `json:"limit"`
	Scope     string `json:"scope"` // global or container
}

// CharmOption is one of a charm's config options.
type CharmOption struct {
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Default     any    `json:"default,omitempty"`
}

// CharmMeta is a charm's metadata.yaml.
type CharmMeta struct {
	Name          string                   `json:"name"`
	Summary       string                   `json:"summary"`
	Description   string                   `json:"description"`
	Subordinate   bool                     `json:"subordinate"`
	Provides      map[string]CharmRelation `json:"provides,omitempty"`
	Requires      map[string]CharmRelation `json:"requires,omitempty"`
	Peers         map[string]CharmRelation `json:"peers,omitempty"`
	ExtraBindings map[string]string        `json:"extra-bindings,omitempty"`
	Categories    []string                 `json:"categories,omitempty"`
	Tags          []string                 `json:"tags,omitempty"`
	Series        []string                 `json:"series,omitempty"`
	Terms         []string                 `json:"terms,omitempty"`
	// MinJujuVersion is "0.0.0" when the charm asks for none: the client
	// parses it as a version.
	MinJujuVersion string `json:"min-juju-version,omitempty"`
	CharmUser      string `json:"charm-user,omitempty"`
}

// CharmBase is a base a charm runs on (manifest.yaml).
type CharmBase struct {
	Name          string   `json:"name,omitempty"`
	Channel       string   `json:"channel,omitempty"`
	Architectures []string `json:"architectures,omitempty"`
}

// CharmManifest is a charm's manifest.yaml.
type CharmManifest struct {
	Bases []CharmBase `json:"bases,omitempty"`
}

// CharmActions is a charm's actions.yaml.
type CharmActions struct {
	ActionSpecs map[string]CharmActionSpec `json:"specs,omitempty"`
}

// CharmActionSpec is one action.
type CharmActionSpec struct {
	Description string         `json:"description"`
	Params      map[string]any `json:"params"`
}

// Charm is the result of Charms.CharmInfo: everything about a charm a
// client needs.
type Charm struct {
	Revision int                    `json:"revision"`
	URL      string                 `json:"url"`
	Config   map[string]CharmOption `json:"config"`
	Meta     *CharmMeta             `json:"meta,omitempty"`
	Actions  *CharmActions          `json:"actions,omitempty"`
	Manifest *CharmManifest         `json:"manifest,omitempty"`
}

// AddCharmWithOrigin is the argument of Charms.AddCharm.
type AddCharmWithOrigin struct {
	URL    string      `json:"url"`
	Origin CharmOrigin `json:"charm-origin"`
	Force  bool        `json:"force"`
}

// CharmOriginResult is the result of Charms.AddCharm.
type CharmOriginResult struct {
	Origin CharmOrigin `json:"charm-origin"`
	Error  *Error      `json:"error,omitempty"`
}

// CharmsList is the argument of Charms.List: charm names, or none for
// all.
type CharmsList struct {
	Names []string `json:"names"`
}

// CharmsListResult is the result of Charms.List.
type CharmsListResult struct {
	CharmURLs []string `json:"charm-urls"`
}

// IsMeteredResult is the result of Charms.IsMetered.
type IsMeteredResult struct {
	Metered bool `json:"metered"`
}

// ApplicationCharmPlacements is the argument of
// Charms.CheckCharmPlacement.
type ApplicationCharmPlacements struct {
	Placements []ApplicationCharmPlacement `json:"placements"`
}

// ApplicationCharmPlacement asks whether a charm may go to an
// application's machines.
type ApplicationCharmPlacement struct {
	Application string `json:"application"`
	CharmURL    string `json:"charm-url"`
}

// CharmURLAndOrigin names a charm with its origin.
type CharmURLAndOrigin struct {
	CharmURL string      `json:"charm-url"`
	Origin   CharmOrigin `json:"charm-origin"`
	// Macaroon is obsolete; Juju 3.5 ignores it.
	Macaroon any `json:"macaroon,omitempty"`
}

// CharmURLAndOrigins is the argument of Charms.ListCharmResources.
type CharmURLAndOrigins struct {
	Entities []CharmURLAndOrigin `json:"entities"`
}

// CharmResourcesResults is the result of Charms.ListCharmResources: per
// charm, its resources (none here: uploaded charms carry no resources
// the development controller serves).
type CharmResourcesResults struct {
	Results [][]CharmResourceResult `json:"results"`
}

// CharmResourceResult is one charm resource, or an error.
type CharmResourceResult struct {
	ErrorResult
	Name        string `json:"name"`
	Type        string `json:"type"`
	Path        string `json:"path"`
	Description string `json:"description,omitempty"`
	Origin      string `json:"origin"`
	Revision    int    `json:"revision"`
	Fingerprint []byte `json:"fingerprint"`
	Size        int64  `json:"size"`
}

// ResolveCharmsWithChannel is the argument of Charms.ResolveCharms.
type ResolveCharmsWithChannel struct {
	Resolve []ResolveCharmWithChannel `json:"resolve"`
}

// ResolveCharmWithChannel asks where a charm reference resolves to.
type ResolveCharmWithChannel struct {
	Reference   string      `json:"reference"`
	Origin      CharmOrigin `json:"charm-origin"`
	SwitchCharm bool        `json:"switch-charm,omitempty"`
}

// ResolveCharmWithChannelResults is the result of Charms.ResolveCharms
// (version 7).
type ResolveCharmWithChannelResults struct {
	Results []ResolveCharmWithChannelResult `json:"Results"`
}

// ResolveCharmWithChannelResult is one resolved charm, or an error.
type ResolveCharmWithChannelResult struct {
	URL            string      `json:"url"`
	Origin         CharmOrigin `json:"charm-origin"`
	SupportedBases []Base      `json:"supported-bases"`
	Error          *Error      `json:"error,omitempty"`
}

// CharmsResponse is the body of the model's charms HTTP endpoint: the
// URL a charm was stored under, the files of a charm, or an error (whose
// message is a plain string here, unlike other endpoints).
type CharmsResponse struct {
	Error     string         `json:"error,omitempty"`
	ErrorCode string         `json:"error-code,omitempty"`
	ErrorInfo map[string]any `json:"error-info,omitempty"`
	CharmURL  string         `json:"charm-url,omitempty"`
	Files     []string       `json:"files,omitempty"`
}
