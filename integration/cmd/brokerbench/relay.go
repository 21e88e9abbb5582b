package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/application"
	"github.com/juju/juju/api/client/machinemanager"
	"github.com/juju/juju/api/client/modelmanager"
	apicharm "github.com/juju/juju/api/common/charm"
	corebase "github.com/juju/juju/core/base"
	"github.com/juju/juju/core/instance"
	"github.com/juju/juju/core/model"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/benchenv"
	"github.com/jimmbroker/jimm/integration/internal/devproc"
)

// relayOnly (-relay-only) measures only the relay of model calls, each
// path against direct in the same run: a large FullStatus (-relay-machines
// machines, -relay-units units) one call at a time, for MB/s, p50 and the
// CPU the relaying process spends per MB; and FullStatus of a small model
// on -relay-conns concurrent connections, for throughput and p99. The paths
// are the controller itself, the broker, and HAProxy re-encrypting TLS in
// front of the same controller (when haproxy is installed).
var (
	relayOnly     bool
	relayMachines int
	relayUnits    int
	relayCalls    int
	relayConns    int
	relayConnRuns int
	perConn       int // calls each of the many clients makes per run
	relayHeld     int
	relayProfile  string
	connsProfile  string
)

func init() {
	flag.BoolVar(&relayOnly, "relay-only", false, "measure only the relay of model calls (large responses, many clients) against direct and HAProxy")
	flag.IntVar(&relayMachines, "relay-machines", 200, "-relay-only: machines in the large model")
	flag.IntVar(&relayUnits, "relay-units", 1000, "-relay-only: units in the large model")
	flag.IntVar(&relayCalls, "relay-calls", 200, "-relay-only: large FullStatus calls per path")
	flag.IntVar(&relayConns, "relay-conns", 256, "-relay-only: concurrent connections per path")
	flag.IntVar(&relayConnRuns, "relay-conn-runs", 2, "-relay-only: runs of the concurrent connections per path")
	flag.IntVar(&perConn, "relay-conn-calls", 100, "-relay-only: calls each concurrent connection makes per run")
	flag.IntVar(&relayHeld, "relay-held", 0, "-relay-only: also measure the broker's memory per attached connection before and after one large FullStatus, on this many connections (0: skip)")
	flag.StringVar(&relayProfile, "relay-cpu-profile", "", "-relay-only: save the broker's CPU profile while it relays the large responses (and only those) to this file")
	flag.StringVar(&connsProfile, "relay-conns-cpu-profile", "", "-relay-only: save the broker's CPU profile while -relay-conns connections call FullStatus of the small model (and only that) to this file")
}

// relayPath is one way to the controller's model API.
type relayPath struct {
	name   string
	addr   string
	caPEM  string
	pass   string
	pid    int // the process relaying (0: none, direct)
	cpu    time.Duration
	lat    []time.Duration
	bytes  int64
	wall   time.Duration
	ctlCPU time.Duration
}

func relay(ctx context.Context, work, brokerAddr string, brokerCA []byte, brokerPass string, brokerPid int, metricsAddr string, ctl *devproc.Process, ctlPass string, adminConn api.Connection) error {
	mm := modelmanager.NewClient(adminConn)
	large, err := mm.CreateModel("relay-large", "admin", "", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		return fmt.Errorf("create model relay-large: %w", err)
	}
	small, err := mm.CreateModel("relay-small", "admin", "", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		return fmt.Errorf("create model relay-small: %w", err)
	}
	start := time.Now()
	if err := populateModel(ctl, ctlPass, large.UUID, relayMachines, relayUnits); err != nil {
		return err
	}
	if err := populateModel(ctl, ctlPass, small.UUID, 3, 6); err != nil {
		return err
	}
	fmt.Printf("relay: populated relay-large (%d machines, %d units) and relay-small (3, 6) in %s\n", relayMachines, relayUnits, time.Since(start).Round(time.Millisecond))

	paths := []*relayPath{
		{name: "direct", addr: ctl.Addr, caPEM: ctl.File.CACert, pass: ctlPass},
		{name: "broker", addr: brokerAddr, caPEM: string(brokerCA), pass: brokerPass, pid: brokerPid},
	}
	if hp, err := startHAProxy(ctx, work, ctl); err != nil {
		fmt.Printf("relay: no HAProxy path: %v\n", err)
	} else {
		defer hp.stop()
		paths = append(paths, &relayPath{name: "haproxy", addr: hp.addr, caPEM: hp.caPEM, pass: ctlPass, pid: hp.cmd.Process.Pid})
	}

	// 1. The large response, one call at a time on one connection per
	// path, interleaved in blocks.
	conns := make([]*relayConn, len(paths))
	for i, p := range paths {
		if conns[i], err = dialRelay(p.addr, p.caPEM, large.UUID, p.pass); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		defer conns[i].close()
	}
	var size int
	for i := range paths { // warm up
		for range 5 {
			n, err := conns[i].call("Client", 7, "FullStatus", `{"patterns":null}`)
			if err != nil {
				return fmt.Errorf("%s: FullStatus: %w", paths[i].name, err)
			}
			size = n
		}
	}
	const block = 10
	ctlPid := ctl.Pid()
	for done := 0; done < relayCalls; done += block {
		for i, p := range paths {
			cpu0, ctl0 := procCPU(p.pid), procCPU(ctlPid)
			t0 := time.Now()
			for range block {
				c0 := time.Now()
				n, err := conns[i].call("Client", 7, "FullStatus", `{"patterns":null}`)
				if err != nil {
					return fmt.Errorf("%s: FullStatus: %w", p.name, err)
				}
				p.lat = append(p.lat, time.Since(c0))
				p.bytes += int64(n)
			}
			p.wall += time.Since(t0)
			p.cpu += procCPU(p.pid) - cpu0
			p.ctlCPU += procCPU(ctlPid) - ctl0
		}
	}
	if relayProfile != "" {
		if err := profileRelay(metricsAddr, []*relayConn{conns[1]}, relayProfile); err != nil {
			return err
		}
	}
	direct := paths[0]
	dMBs := float64(direct.bytes) / 1e6 / direct.wall.Seconds()
	fmt.Printf("large response: FullStatus of %d machines, %d units (%d KB), %d calls per path, one at a time, interleaved in blocks of %d:\n",
		relayMachines, relayUnits, size/1000, relayCalls, block)
	summary := []string{fmt.Sprintf("fullstatus_kb=%d", size/1000)}
	cpuPerMB := map[string]float64{} // the relaying processes'
	for _, p := range paths {
		slices.Sort(p.lat)
		mbs := float64(p.bytes) / 1e6 / p.wall.Seconds()
		mb := float64(p.bytes) / 1e6
		line := fmt.Sprintf("  %-8s %7.1f MB/s (%.2fx direct)  p50 %6.2fms (%.2fx)  controller CPU %.2fms/MB",
			p.name, mbs, mbs/dMBs, benchenv.MS(benchenv.Pct(p.lat, 50)), float64(benchenv.Pct(p.lat, 50))/float64(benchenv.Pct(direct.lat, 50)),
			benchenv.MS(p.ctlCPU)/mb)
		summary = append(summary, fmt.Sprintf("%s_mbps=%.1f %s_p50_ms=%.2f", p.name, mbs, p.name, benchenv.MS(benchenv.Pct(p.lat, 50))))
		if p.pid != 0 {
			cpuMB := benchenv.MS(p.cpu) / mb
			line += fmt.Sprintf("  relay CPU %.3fms/MB (%.2fms per response)", cpuMB, benchenv.MS(p.cpu)/float64(len(p.lat)))
			summary = append(summary, fmt.Sprintf("%s_cpu_ms_per_mb=%.3f", p.name, cpuMB))
			cpuPerMB[p.name] = cpuMB
		}
		fmt.Println(line)
	}
	summary = vsHAProxy(summary, cpuPerMB, "relay CPU per MB", "broker_cpu_vs_haproxy")
	if relayHeld > 0 {
		held, err := heldAfterLarge(paths[1], large.UUID, brokerPid, metricsAddr, relayHeld)
		if err != nil {
			return err
		}
		summary = append(summary, held...)
	}

	// 2. Many clients: relayConns connections per path, all calling
	// FullStatus of the small model at once.
	type many struct {
		calls int
		wall  time.Duration
		lat   []time.Duration
		cpu   time.Duration // the relaying process's
		ctl   time.Duration // the controller's
		self  time.Duration // this process's: the clients'
	}
	res := make([]many, len(paths))
	for run := range relayConnRuns {
		for i, p := range paths {
			cs, err := dialMany(p, small.UUID, relayConns)
			if err != nil {
				return err
			}
			var mu sync.Mutex
			var wg sync.WaitGroup
			var firstErr error
			cpu0, ctl0, self0 := procCPU(p.pid), procCPU(ctlPid), procCPU(os.Getpid())
			t0 := time.Now()
			for _, c := range cs {
				wg.Go(func() {
					lat := make([]time.Duration, 0, perConn)
					for range perConn {
						c0 := time.Now()
						if _, err := c.call("Client", 7, "FullStatus", `{"patterns":null}`); err != nil {
							mu.Lock()
							firstErr = err
							mu.Unlock()
							return
						}
						lat = append(lat, time.Since(c0))
					}
					mu.Lock()
					res[i].lat = append(res[i].lat, lat...)
					mu.Unlock()
				})
			}
			wg.Wait()
			res[i].wall += time.Since(t0)
			res[i].cpu += procCPU(p.pid) - cpu0
			res[i].ctl += procCPU(ctlPid) - ctl0
			res[i].self += procCPU(os.Getpid()) - self0
			res[i].calls += len(cs) * perConn
			for _, c := range cs {
				c.close()
			}
			if firstErr != nil {
				return fmt.Errorf("%s, run %d: FullStatus: %w", p.name, run, firstErr)
			}
		}
	}
	if connsProfile != "" {
		cs, err := dialMany(paths[1], small.UUID, relayConns)
		if err != nil {
			return err
		}
		err = profileRelay(metricsAddr, cs, connsProfile)
		for _, c := range cs {
			c.close()
		}
		if err != nil {
			return err
		}
	}
	fmt.Printf("many clients: %d connections per path, FullStatus of a small model, %d calls each, %d runs interleaved:\n", relayConns, perConn, relayConnRuns)
	dRate := float64(res[0].calls) / res[0].wall.Seconds()
	slices.Sort(res[0].lat)
	d99 := benchenv.Pct(res[0].lat, 99)
	cpuPerCall := map[string]float64{}
	for i, p := range paths {
		slices.Sort(res[i].lat)
		rate := float64(res[i].calls) / res[i].wall.Seconds()
		p99 := benchenv.Pct(res[i].lat, 99)
		ctlPer := float64(res[i].ctl.Microseconds()) / float64(res[i].calls)
		selfPer := float64(res[i].self.Microseconds()) / float64(res[i].calls)
		line := fmt.Sprintf("  %-8s %7.0f calls/s (%.2fx direct)  p99 %7.2fms (%.2fx)  controller CPU %.1fµs, clients' %.1fµs per call",
			p.name, rate, rate/dRate, benchenv.MS(p99), float64(p99)/float64(d99), ctlPer, selfPer)
		summary = append(summary, fmt.Sprintf("%s_conns_calls_per_s=%.0f %s_conns_p99_ms=%.2f %s_conns_ctl_cpu_us_per_call=%.1f %s_conns_client_cpu_us_per_call=%.1f",
			p.name, rate, p.name, benchenv.MS(p99), p.name, ctlPer, p.name, selfPer))
		if p.pid != 0 {
			perCall := float64(res[i].cpu.Microseconds()) / float64(res[i].calls)
			line += fmt.Sprintf("  relay CPU %.1fµs per call", perCall)
			summary = append(summary, fmt.Sprintf("%s_conns_cpu_us_per_call=%.1f", p.name, perCall))
			cpuPerCall[p.name] = perCall
		}
		fmt.Println(line)
	}
	summary = vsHAProxy(summary, cpuPerCall, "relay CPU per call", "broker_conns_cpu_vs_haproxy")
	fmt.Printf("brokerbench-relay: proxies_pinned=%t %s\n", pinProxies, strings.Join(summary, " "))
	return nil
}

// vsHAProxy prints the broker's figure (what, of figures by path) as a
// ratio to HAProxy's, and adds it to summary as key, when HAProxy ran.
func vsHAProxy(summary []string, figures map[string]float64, what, key string) []string {
	ha, ok := figures["haproxy"]
	if !ok || ha == 0 {
		return summary
	}
	ratio := figures["broker"] / ha
	fmt.Printf("  broker %s: %.2fx HAProxy's\n", what, ratio)
	return append(summary, fmt.Sprintf("%s=%.2f", key, ratio))
}

// populateModel adds machines and units (five applications, placed
// round-robin on the machines) to a model, on the controller itself.
func populateModel(ctl *devproc.Process, pass, uuid string, machines, units int) error {
	conn, err := api.Open(&api.Info{Addrs: []string{ctl.Addr}, CACert: ctl.File.CACert, Tag: names.NewUserTag("admin"), Password: pass,
		ModelTag: names.NewModelTag(uuid)}, api.DialOpts{Timeout: time.Minute})
	if err != nil {
		return fmt.Errorf("open model %s on the controller: %w", uuid, err)
	}
	defer conn.Close()
	added, err := machinemanager.NewClient(conn).AddMachines(slices.Repeat([]params.AddMachineParams{{
		Jobs: []model.MachineJob{model.JobHostUnits}, Base: &params.Base{Name: "ubuntu", Channel: "22.04"},
	}}, machines))
	if err != nil {
		return fmt.Errorf("AddMachines: %w", err)
	}
	for _, m := range added {
		if m.Error != nil {
			return fmt.Errorf("AddMachines: %w", m.Error)
		}
	}
	apps := application.NewClient(conn)
	appNames := []string{"postgresql", "wordpress", "haproxy", "mysql-router", "telegraf"}
	placed := 0
	for i, name := range appNames {
		n := units / len(appNames)
		if i < units%len(appNames) {
			n++
		}
		if err := apps.Deploy(application.DeployArgs{
			CharmID: application.CharmID{URL: "ch:amd64/jammy/" + name + "-1"},
			CharmOrigin: apicharm.Origin{Source: apicharm.OriginCharmHub, Risk: "stable", Architecture: "amd64",
				Base: corebase.MustParseBaseFromString("ubuntu@22.04")},
			ApplicationName: name,
		}); err != nil {
			return fmt.Errorf("deploy %s: %w", name, err)
		}
		if n == 0 {
			continue
		}
		var placement []*instance.Placement
		for j := range n {
			placement = append(placement, &instance.Placement{Scope: instance.MachineScope, Directive: strconv.Itoa((placed + j) % machines)})
		}
		if _, err := apps.AddUnits(application.AddUnitsParams{ApplicationName: name, NumUnits: n, Placement: placement}); err != nil {
			return fmt.Errorf("add %d units of %s: %w", n, name, err)
		}
		placed += n
	}
	return nil
}

// relayConn is a model connection that sends requests and reads responses
// as bytes, as a thin client would, so that the client's own decoding
// does not weigh on the figures.
type relayConn struct {
	ws  *websocket.Conn
	id  uint64
	buf []byte
}

func dialRelay(addr, caPEM, modelUUID, pass string) (*relayConn, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"}, HandshakeTimeout: 30 * time.Second,
		ReadBufferSize: 64 << 10, WriteBufferSize: 4 << 10}
	ws, _, err := d.Dial("wss://"+addr+"/model/"+modelUUID+"/api", nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	ws.SetReadLimit(64 << 20)
	c := &relayConn{ws: ws}
	login, _ := json.Marshal(map[string]any{"auth-tag": "user-admin", "credentials": pass, "client-version": "3.5.4"})
	if _, err := c.call("Admin", 3, "Login", string(login)); err != nil {
		ws.Close()
		return nil, fmt.Errorf("log in at %s: %w", addr, err)
	}
	return c, nil
}

// call makes one call and returns the size of its response.
func (c *relayConn) call(facade string, version int, method, params string) (int, error) {
	c.id++
	req := fmt.Sprintf(`{"request-id":%d,"type":%q,"version":%d,"request":%q,"params":%s}`, c.id, facade, version, method, params)
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
		return 0, err
	}
	_, r, err := c.ws.NextReader()
	if err != nil {
		return 0, err
	}
	c.buf = c.buf[:0]
	for {
		if len(c.buf) == cap(c.buf) {
			c.buf = slices.Grow(c.buf, max(64<<10, cap(c.buf)))
		}
		n, err := r.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	// The usual encoders write the request id first and the error, if
	// any, before the response: only an unusual frame is decoded.
	prefix := fmt.Appendf(nil, `{"request-id":%d,"response":`, c.id)
	if !bytes.HasPrefix(c.buf, prefix) {
		var env struct {
			RequestID uint64 `json:"request-id"`
			Error     string `json:"error"`
		}
		if err := json.Unmarshal(c.buf, &env); err != nil {
			return 0, fmt.Errorf("%s.%s: %w", facade, method, err)
		}
		if env.RequestID != c.id || env.Error != "" {
			return 0, fmt.Errorf("%s.%s: request %d: %q", facade, method, env.RequestID, env.Error)
		}
	}
	return len(c.buf), nil
}

func (c *relayConn) close() { c.ws.Close() }

func dialMany(p *relayPath, modelUUID string, n int) ([]*relayConn, error) {
	out := make([]*relayConn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := dialRelay(p.addr, p.caPEM, modelUUID, p.pass)
			if err != nil {
				errs <- fmt.Errorf("%s: %w", p.name, err)
				return
			}
			out[i] = c
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		for _, c := range out {
			if c != nil {
				c.close()
			}
		}
		return nil, err
	}
	return out, nil
}

// procCPU is the user and system CPU time process pid has used (0 for
// pid 0).
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses): utime and
	// stime are the 12th and 13th, in clock ticks of 1/100 s.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

type haproxy struct {
	cmd   *exec.Cmd
	addr  string
	caPEM string
}

func (h *haproxy) stop() {
	h.cmd.Process.Kill()
	h.cmd.Wait()
}

// startHAProxy runs HAProxy in TCP mode terminating TLS with a certificate
// of its own (SAN juju-apiserver) and re-encrypting to the controller,
// verified against its CA: a plain TLS proxy doing the broker's TLS hop.
func startHAProxy(ctx context.Context, work string, ctl *devproc.Process) (*haproxy, error) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return nil, fmt.Errorf("haproxy is not installed (apt-get install haproxy)")
	}
	dir := filepath.Join(work, "haproxy")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := selfSigned()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "front.pem"), append(certPEM, keyPEM...), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ctl-ca.pem"), []byte(ctl.File.CACert), 0o600); err != nil {
		return nil, err
	}
	port, err := benchenv.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// As many threads as CPUs it may use, as the broker's runtime does.
	threads := runtime.NumCPU()
	if pinProxies {
		threads = 1
	}
	cfg := fmt.Sprintf(`global
  maxconn 5000
  nbthread %d
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend fe
  bind %s ssl crt %s
  default_backend be
backend be
  server ctl %s ssl verify required ca-file %s sni str(juju-apiserver)
`, threads, addr, filepath.Join(dir, "front.pem"), ctl.Addr, filepath.Join(dir, "ctl-ca.pem"))
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start haproxy: %w", err)
	}
	h := &haproxy{cmd: cmd, addr: addr, caPEM: string(certPEM)}
	if pinProxies {
		if err := benchenv.PinCPU(cmd.Process.Pid, proxyCPU); err != nil {
			h.stop()
			return nil, err
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return h, nil
		}
		if time.Now().After(deadline) {
			h.stop()
			return nil, fmt.Errorf("haproxy did not listen on %s within 10s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// selfSigned makes a self-signed certificate for juju-apiserver.
func selfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "brokerbench haproxy"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"juju-apiserver"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// profileRelay saves the broker's CPU profile taken while conns, through
// the broker, each call FullStatus (of whichever model they are on)
// without pause.
func profileRelay(metricsAddr string, conns []*relayConn, file string) error {
	const secs = 10
	stop := make(chan struct{})
	errc := make(chan error, len(conns))
	for _, conn := range conns {
		go func() {
			for {
				select {
				case <-stop:
					errc <- nil
					return
				default:
				}
				if _, err := conn.call("Client", 7, "FullStatus", `{"patterns":null}`); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", metricsAddr, secs))
	if err == nil {
		defer resp.Body.Close()
		var out []byte
		if out, err = io.ReadAll(resp.Body); err == nil {
			err = os.WriteFile(file, out, 0o644)
		}
	}
	close(stop)
	for range conns {
		if cerr := <-errc; err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("profile the broker: %w", err)
	}
	fmt.Printf("relay: the broker's CPU profile over %ds of FullStatus on %d connections is in %s\n", secs, len(conns), file)
	return nil
}

// heldAfterLarge opens n connections to the large model through the
// broker (p) and reports the broker's memory per connection while they are
// attached and idle, then once each has had one large FullStatus answered:
// what a large response leaves behind on a connection that stays.
func heldAfterLarge(p *relayPath, modelUUID string, pid int, metricsAddr string, n int) ([]string, error) {
	before, err := benchenv.Measure(pid, metricsAddr)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	cs, err := dialMany(p, modelUUID, n)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range cs {
			c.close()
		}
	}()
	// Each measure waits for every reader, both sides of each connection,
	// to have parked after its second of quiet: what an idle attached
	// connection holds, not the moment after its last frame.
	if err := awaitParkedReaders(metricsAddr, 2*n); err != nil {
		return nil, err
	}
	idle, err := benchenv.Measure(pid, metricsAddr)
	if err != nil {
		return nil, err
	}
	if err := saveHeap(metricsAddr, ".held-idle"); err != nil {
		return nil, err
	}
	for _, c := range cs {
		if _, err := c.call("Client", 7, "FullStatus", `{"patterns":null}`); err != nil {
			return nil, fmt.Errorf("%s: FullStatus: %w", p.name, err)
		}
	}
	if err := awaitParkedReaders(metricsAddr, 2*n); err != nil {
		return nil, err
	}
	after, err := benchenv.Measure(pid, metricsAddr)
	if err != nil {
		return nil, err
	}
	if err := saveHeap(metricsAddr, ".held-after"); err != nil {
		return nil, err
	}
	if took := time.Since(t0); took >= detachAfter {
		return nil, fmt.Errorf("-relay-held: %d connections took %s, over -detach-after %s: some may have detached; use fewer", n, took.Round(time.Second), detachAfter)
	}
	live := func(m benchenv.Memory) float64 { return (m.HeapLive - before.HeapLive) / float64(n) / 1024 }
	fmt.Printf("held: %d connections attached through the broker: %.1f KB each idle (live %.1f KB), %.1f KB once each has had one large FullStatus (live %.1f KB)\n",
		n, idle.PerConn(before, n), live(idle), after.PerConn(before, n), live(after))
	return []string{fmt.Sprintf("held_idle_kb=%.1f held_after_large_kb=%.1f held_after_large_live_kb=%.1f", idle.PerConn(before, n), after.PerConn(before, n), live(after))}, nil
}

// awaitParkedReaders waits until the broker has parked at least n readers
// (jimm_proxy_parked_connections counts each side of an attached
// connection), for at most 15s.
func awaitParkedReaders(metricsAddr string, n int) error {
	m, ok, err := awaitMetrics(metricsAddr, 15*time.Second, func(m map[string]float64) bool {
		return m["jimm_proxy_parked_connections"] >= float64(n)
	})
	if err != nil || ok {
		return err
	}
	return fmt.Errorf("-relay-held: the broker parked %.0f of the %d readers of the held connections within 15s", m["jimm_proxy_parked_connections"], n)
}
