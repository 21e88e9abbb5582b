package devproc

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Agents is one model's entry of a development controller's GET
// /dev/agents: how many of the model's agents are connected to this
// controller, and where the agents it runs are connected.
type Agents struct {
	UUID        string `json:"uuid"`
	Agents      int    `json:"agents"`
	Connected   int    `json:"connected"`
	Connections int    `json:"connections"`
	Hosted      struct {
		Here      int `json:"here"`
		Elsewhere int `json:"elsewhere"`
		Nowhere   int `json:"nowhere"`
	} `json:"hosted"`
}

// Agents asks the controller, as admin with password, about the agents of
// model uuid. A model it knows nothing of has zero counts.
func (p *Process) Agents(uuid, password string) (Agents, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(p.File.CACert))
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"},
	}}
	req, err := http.NewRequest(http.MethodGet, "https://"+p.Addr+"/dev/agents?model="+url.QueryEscape(uuid), nil)
	if err != nil {
		return Agents{}, err
	}
	req.SetBasicAuth("admin", password)
	resp, err := cl.Do(req)
	if err != nil {
		return Agents{}, fmt.Errorf("GET /dev/agents from %s: %w", p.Addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Agents{}, fmt.Errorf("GET /dev/agents from %s: %s", p.Addr, resp.Status)
	}
	var out struct {
		Models []Agents `json:"models"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return Agents{}, fmt.Errorf("GET /dev/agents from %s: %w", p.Addr, err)
	}
	if len(out.Models) != 1 {
		return Agents{UUID: uuid}, nil
	}
	return out.Models[0], nil
}
