package params

// SummaryWatcherID is the result of Controller.WatchModelSummaries and
// WatchAllModelSummaries: the watcher's id, for ModelSummaryWatcher's
// Next and Stop.
type SummaryWatcherID struct {
	WatcherID string `json:"watcher-id"`
}

// SummaryWatcherNextResults is the result of ModelSummaryWatcher.Next:
// every model the first time, then those that changed.
type SummaryWatcherNextResults struct {
	Models []ModelAbstract `json:"models"`
}

// ModelAbstract is one model in a summary watcher's deltas; a removed
// model carries only its UUID and Removed.
type ModelAbstract struct {
	UUID    string `json:"uuid"`
	Removed bool   `json:"removed,omitempty"`

	Controller string   `json:"controller,omitempty"` // the controller's name
	Name       string   `json:"name,omitempty"`
	Admins     []string `json:"admins,omitempty"` // user names

	Cloud      string `json:"cloud,omitempty"`
	Region     string `json:"region,omitempty"`
	Credential string `json:"credential,omitempty"` // cloud/owner/name

	Size ModelSummarySize `json:"size,omitempty"`

	Status   string                `json:"status,omitempty"`
	Messages []ModelSummaryMessage `json:"messages,omitempty"`

	Annotations map[string]string `json:"annotations,omitempty"`
}

// ModelSummarySize counts a model's entities.
type ModelSummarySize struct {
	Machines     int `json:"machines,omitempty"`
	Containers   int `json:"containers,omitempty"`
	Applications int `json:"applications,omitempty"`
	Units        int `json:"units,omitempty"`
	Relations    int `json:"relations,omitempty"`
}

// ModelSummaryMessage is an agent's status message that is not green.
type ModelSummaryMessage struct {
	Agent   string `json:"agent"`
	Message string `json:"message"`
}
