package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

func fullStatusFrame(tb testing.TB, requestID uint64, machines, units int) []byte {
	tb.Helper()
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
		tb.Fatal(err)
	}
	frame := fmt.Appendf(nil, `{"request-id":%d,"response":`, requestID)
	frame = append(frame, body...)
	return append(frame, '}')
}

// BenchmarkRelayFrameWork is the relay's own work on each response from
// the controller, without the sockets: reading its envelope and replacing
// the controller's UUID. "before" is what it did until ScanHeader and
// uuidRewriter (a full JSON validation and bytes.Contains).
func BenchmarkRelayFrameWork(b *testing.B) {
	frame := fullStatusFrame(b, 7, 200, 1000)
	for _, uuid := range []string{"c0c0c0c0-0000-4000-8000-000000000001", "ea1b2c3d-7d4e-4b1a-9c2f-5e6d7a8b9c0d"} {
		ctl := []byte(uuid)
		b.Run("before/"+uuid[:2], func(b *testing.B) {
			var env jujuapi.Envelope
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if jujuapi.ScanEnvelope(frame, &env) != nil || bytes.Contains(frame, ctl) {
					b.Fatal()
				}
			}
		})
		b.Run("after/"+uuid[:2], func(b *testing.B) {
			var env jujuapi.Envelope
			r := newUUIDRewriter(ctl, brokerUUID)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if jujuapi.ScanHeader(frame, &env) != nil {
					b.Fatal()
				}
				r.rewrite(frame)
			}
		})
	}
}

// TestUUIDRewriter: the rewriter replaces what bytes.ReplaceAll replaces,
// wherever the UUID is, whichever of its bytes it looks for.
func TestUUIDRewriter(t *testing.T) {
	const to = "b0b0b0b0-1111-4111-8111-111111111111"
	rng := rand.New(rand.NewPCG(1, 2))
	for _, from := range []string{"c0c0c0c0-0000-4000-8000-000000000001", "8aaaaaaa-aaaa-4aaa-aaaa-aaaaaaaaaaaa", "eeeeeeee-eeee-4eee-aeee-eeeeeeeeeee8", "3f0c8a52-7d4e-4b1a-9c2f-5e6d7a8b9c0d"} {
		r := newUUIDRewriter([]byte(from), to)
		if r.from[r.off] != r.anchor {
			t.Fatalf("%s: anchor %q is not the byte at %d", from, r.anchor, r.off)
		}
		pieces := []string{from, from[:20], from[10:], from[:35], `"`, "e", "8", "a", "-", "c0c0", `{"controller-uuid":"`, from + from}
		for range 2000 {
			var b []byte
			for range rng.IntN(12) {
				b = append(b, pieces[rng.IntN(len(pieces))]...)
			}
			want := bytes.ReplaceAll(b, []byte(from), []byte(to))
			got := r.rewrite(bytes.Clone(b))
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: rewrite(%q) = %q, want %q", from, b, got, want)
			}
		}
	}
	// A longer replacement (not a UUID) still works, by copying.
	r := newUUIDRewriter([]byte("abc"), "wxyz")
	if got := string(r.rewrite([]byte("xabcabcy"))); got != "xwxyzwxyzy" {
		t.Errorf("rewrite with a longer replacement = %q", got)
	}
	if got := string(newUUIDRewriter(nil, to).rewrite([]byte("abc"))); got != "abc" {
		t.Errorf("rewrite with no UUID = %q", got)
	}
}
