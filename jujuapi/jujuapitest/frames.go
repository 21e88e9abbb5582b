// Package jujuapitest builds realistic Juju API frames for the tests and
// benchmarks of the packages that relay them.
package jujuapitest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jimmbroker/jimm/jujuapi/params"
)

// FullStatusFrame is a Client.FullStatus response frame as a controller
// sends it for a model of machines machines and units units (spread over
// five applications), in the field order Juju's codec writes.
func FullStatusFrame(requestID uint64, machines, units int) []byte {
	since := time.Date(2026, 11, 21, 9, 34, 12, 0, time.UTC)
	st := func(status, info, kind string) params.DetailedStatus {
		return params.DetailedStatus{Status: status, Info: info, Since: &since, Kind: kind, Data: map[string]any{}}
	}
	fs := params.FullStatus{
		Model: params.ModelStatusInfo{Name: "bench", Type: "iaas", CloudTag: "cloud-localhost", CloudRegion: "default",
			Version: "3.5.4", ModelStatus: st("available", "", "model"), SLA: "unsupported"},
		Machines: map[string]params.MachineStatus{}, Applications: map[string]params.ApplicationStatus{},
		RemoteApplications: map[string]params.RemoteApplicationStatus{}, Offers: map[string]params.ApplicationOfferStatus{},
		Branches: map[string]params.BranchStatus{}, ControllerTimestamp: &since,
	}
	for i := range machines {
		id := fmt.Sprint(i)
		addr := fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256+1)
		fs.Machines[id] = params.MachineStatus{
			AgentStatus: st("started", "", "machine"), InstanceStatus: st("running", "Running", "machine"),
			ModificationStatus: st("idle", "", "machine"), DNSName: addr,
			IPAddresses: []string{addr}, InstanceId: fmt.Sprintf("i-%016x", 0x5eed0000+i), DisplayName: "",
			Base: params.Base{Name: "ubuntu", Channel: "22.04/stable"}, Id: id,
			NetworkInterfaces: map[string]params.NetworkInterface{"eth0": {IPAddresses: []string{addr},
				MACAddress: fmt.Sprintf("00:16:3e:%02x:%02x:%02x", i>>16&255, i>>8&255, i&255), IsUp: true}},
			Containers: map[string]params.MachineStatus{}, Hardware: "arch=amd64 cores=2 mem=4096M root-disk=40960M",
			Jobs: []params.MachineJob{params.JobHostUnits},
		}
	}
	apps := []string{"postgresql", "wordpress", "haproxy", "mysql-router", "telegraf"}
	for a, name := range apps {
		app := params.ApplicationStatus{Charm: "ch:amd64/jammy/" + name + "-" + fmt.Sprint(100+a), CharmChannel: "latest/stable",
			Base: params.Base{Name: "ubuntu", Channel: "22.04/stable"}, Life: "", Relations: map[string][]string{},
			Units: map[string]params.UnitStatus{}, Status: st("active", "Ready", "application"),
			EndpointBindings: map[string]string{"": "alpha", "db": "alpha", "website": "alpha"}}
		for u := a; u < units; u += len(apps) {
			m := fmt.Sprint(u % max(machines, 1))
			addr := fmt.Sprintf("10.%d.%d.%d", u%machines/65536, u%machines/256%256, u%machines%256+1)
			app.Units[fmt.Sprintf("%s/%d", name, u/len(apps))] = params.UnitStatus{
				AgentStatus: st("idle", "", "unit"), WorkloadStatus: st("active", "ready: \"primary\" {ok}", "workload"),
				Machine: m, PublicAddress: addr, Charm: "", Subordinates: map[string]params.UnitStatus{},
				Leader: u < len(apps),
			}
		}
		fs.Applications[name] = app
	}
	body, err := json.Marshal(fs)
	if err != nil {
		panic(fmt.Sprintf("encode a FullStatus: %v", err)) // params types always encode
	}
	frame := fmt.Appendf(nil, `{"request-id":%d,"response":`, requestID)
	frame = append(frame, body...)
	return append(frame, '}')
}
