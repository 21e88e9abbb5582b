package devcontroller

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/jimmbroker/jimm/devcontroller/store"
)

// GET /dev/agents: a development-only endpoint (no Juju controller has it)
// telling, per model, how many agents are connected to this controller,
// for tests and benchmarks. It takes HTTP basic authentication as a
// superuser ("admin" or "user-admin" and the password) and answers
//
//	{"controller-uuid": "...",
//	 "models": [{"uuid": "...", "name": "...",
//	             "agents": N,       machines + units of the model here (0
//	                                 when the model is not here),
//	             "connected": N,    agents of the model with both of their
//	                                 connections logged in to this
//	                                 controller, wherever they run,
//	             "connections": N,  those agents' logged-in connections,
//	             "hosted": {"here": N, "elsewhere": N, "nowhere": N}
//	                                 the agents this controller runs for
//	                                 the model, by where they are connected
//	                                 (elsewhere: a migration target)
//	            }]}
//
// listing every model here and every model with agents connected here,
// sorted by uuid. ?model=<uuid> restricts it to one model.

type devAgentsModel struct {
	UUID        string      `json:"uuid"`
	Name        string      `json:"name,omitempty"`
	Agents      int         `json:"agents"`
	Connected   int         `json:"connected"`
	Connections int         `json:"connections"`
	Hosted      agentPlaces `json:"hosted"`
}

type devAgentsResult struct {
	ControllerUUID string           `json:"controller-uuid"`
	Models         []devAgentsModel `json:"models"`
}

func (c *Controller) serveDevAgents(w http.ResponseWriter, r *http.Request) {
	user, password, ok := r.BasicAuth()
	user = strings.TrimPrefix(user, "user-")
	u, exists := c.store.User(user)
	if !ok || !exists || u.Disabled || u.Access != store.AccessSuperuser || !checkPassword(u.PasswordHash, password) {
		w.Header().Set("WWW-Authenticate", `Basic realm="devcontroller"`)
		http.Error(w, "superuser credentials required", http.StatusUnauthorized)
		return
	}
	json.NewEncoder(w).Encode(c.devAgents(r.URL.Query().Get("model")))
}

func (c *Controller) devAgents(only string) devAgentsResult {
	counts := c.agentSessions.count()
	byUUID := map[string]*devAgentsModel{}
	for _, m := range c.store.Models() {
		byUUID[m.UUID] = &devAgentsModel{UUID: m.UUID, Name: m.Name, Agents: len(m.Machines) + countUnits(m)}
	}
	for uuid := range counts {
		if byUUID[uuid] == nil {
			byUUID[uuid] = &devAgentsModel{UUID: uuid}
		}
	}
	out := devAgentsResult{ControllerUUID: c.UUID(), Models: []devAgentsModel{}}
	for uuid, dm := range byUUID {
		if only != "" && uuid != only {
			continue
		}
		dm.Connected, dm.Connections = counts[uuid].Connected, counts[uuid].Connections
		dm.Hosted = c.agents.places(uuid)
		out.Models = append(out.Models, *dm)
	}
	sort.Slice(out.Models, func(i, j int) bool { return out.Models[i].UUID < out.Models[j].UUID })
	return out
}
