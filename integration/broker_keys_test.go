package integration

// The broker's signing keys rotate while clients keep connecting: every
// login the broker makes at a controller with a token it signed is
// accepted, through either of two replicas, and the key set the controllers
// fetch pre-publishes each key, keeps retired keys until their tokens have
// expired, then drops them.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/rpc/params"

	"github.com/jimmbroker/jimm/integration/internal/jimmproc"
)

// The rotation schedule of TestBrokerKeyRotation: a key signs for
// krRotation, is published krPrepublish before that and stays published
// krTokenTTL (the controller tokens' lifetime) after it retires.
const (
	krRotation   = 2 * time.Second
	krPrepublish = 1 * time.Second
	krTokenTTL   = 3 * time.Second

	// krRunFor is how long the clients keep connecting.
	krRunFor = 12 * time.Second
	// krWorkers is how many clients connect at once, half of them
	// through each replica.
	krWorkers = 4
	// krSampleEvery is how often each replica's JWKS is read.
	krSampleEvery = 200 * time.Millisecond
	// krMaxKeys bounds the keys one JWKS may hold: with the schedule above
	// about four (the signing key, the next one, the retired ones whose
	// tokens may still be valid).
	krMaxKeys = 6
	// krMinKids is how many distinct keys the run must see: it spans about
	// six rotations.
	krMinKids = 4
	// krLead is how long before a key starts signing the clients start.
	krLead = 600 * time.Millisecond
	// krRemovalSlack is how late past retirement plus token lifetime a key
	// may still be published (the broker's own schedule ticks, sampling).
	krRemovalSlack = 3 * time.Second
)

// TestBrokerKeyRotation: with keys rotating every 2 s (published 1 s
// before they sign, kept 3 s — the token lifetime — after they retire),
// four clients open new model connections through two broker replicas for
// 12 s, each one making the broker sign a token and log in to a controller
// that fetches replica A's JWKS lazily. No login fails, no controller
// refuses a token; meanwhile both replicas' JWKS show at least 4 keys in
// turn, 2 or more at a time, never more than 6, and each key that came
// and went during the run stayed published for at least its signing
// period plus the token lifetime, and not much longer.
//
// The clients start 0.6 s before a key starts signing. Until then no
// controller has met a broker token, so each fetches the JWKS at the first
// login and may not fetch it again for a second (its refetch cooldown):
// only because the next key is already published does that fetch cover
// the key that signs 0.6 s later. Started at that moment, a broker that
// publishes keys only when they start signing (--signing-key-prepublish
// -1s) has the controllers refuse its logins for 0.4 s.
func TestBrokerKeyRotation(t *testing.T) {
	serverDSN(t) // skips without PostgreSQL
	bins := buildBrokerBins(t)
	start := time.Now()
	e := newBrokerEnv(t, bins,
		"--signing-key-rotation", krRotation.String(),
		"--signing-key-prepublish", krPrepublish.String(),
		"--controller-token-ttl", krTokenTTL.String(),
		// Keys stay published until the session tokens they signed
		// expire too: keep those as short.
		"--session-ttl", krTokenTTL.String())
	b := e.startReplica(t, false)

	// The controllers trust replica A's JWKS only (see launchController):
	// logins through B are signed with keys B loaded from the database,
	// which A must publish in time too.
	replicas := []*krReplica{
		krNewReplica(t, "A", e.broker(), e.caPEM),
		krNewReplica(t, "B", b, ""),
	}

	// Models on every controller: ctl-1 and ctl-2 share east, ctl-3 is
	// west.
	mm := modelmanager.NewClient(e.open(t, ""))
	var models []string
	for i, region := range []string{"east", "east", "east", "west"} {
		models = append(models, createModel(t, e, mm, fmt.Sprintf("rot-%d", i), region).UUID)
	}
	hosts, where := map[string]bool{}, e.modelsByController(t)
	for _, uuid := range models {
		hosts[where[uuid]] = true
	}
	t.Logf("models on %d controllers; setup took %s", len(hosts), time.Since(start).Round(time.Millisecond))

	// No token login has been made yet (models are created with the
	// controllers' admin passwords): start when the controllers' first
	// JWKS fetch falls in the last second before a key starts signing.
	krAwaitPhase(t, replicas[0], krLead)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var samplers sync.WaitGroup
	for _, r := range replicas {
		samplers.Go(func() { r.sample(ctx) })
	}

	runStart := time.Now()
	deadline := runStart.Add(krRunFor)
	var (
		workers  sync.WaitGroup
		mu       sync.Mutex
		failures []string
		nFailed  atomic.Int64
	)
	for w := range krWorkers {
		r := replicas[w%len(replicas)]
		workers.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				uuid := models[(w+i)%len(models)]
				at := time.Since(runStart)
				err := r.loginAndCall(e, uuid)
				r.logins.Add(1)
				if err != nil {
					r.failed.Add(1)
					if nFailed.Add(1) <= 20 {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("+%.2fs via replica %s, model %s: %v", at.Seconds(), r.name, uuid, err))
						mu.Unlock()
					}
				}
			}
		})
	}
	workers.Wait()
	runTime := time.Since(runStart)
	cancel()
	samplers.Wait()

	// Logins.
	var logins, failed int64
	for _, r := range replicas {
		logins += r.logins.Load()
		failed += r.failed.Load()
		t.Logf("replica %s: %d logins (model connection, FullStatus, close), %d failed", r.name, r.logins.Load(), r.failed.Load())
	}
	t.Logf("%d logins in %s (%.0f/s), %d failed", logins, runTime.Round(time.Millisecond), float64(logins)/runTime.Seconds(), failed)
	if failed > 0 {
		t.Errorf("%d of %d model connections through the broker failed while its keys rotated; want none. First ones:\n%s",
			failed, logins, strings.Join(failures, "\n"))
	}
	minLogins := int64(200)
	if raceEnabled {
		minLogins = 60
	}
	if logins < minLogins {
		t.Errorf("only %d logins in %s; want at least %d for the run to mean anything", logins, runTime.Round(time.Millisecond), minLogins)
	}
	for _, r := range replicas {
		if r.logins.Load() < minLogins/4 {
			t.Errorf("only %d logins through replica %s; want at least %d", r.logins.Load(), r.name, minLogins/4)
		}
	}

	// What the processes said.
	for _, s := range e.specs {
		if n := strings.Count(e.ctls[s.name].Output(), "token login refused"); n > 0 {
			t.Errorf("controller %s logged %d refused token logins; want none", s.name, n)
		}
	}
	for _, r := range replicas {
		if n := strings.Count(r.proc.Output(), "controller refused the broker's login"); n > 0 {
			t.Errorf("replica %s logged %d logins a controller refused; want none", r.name, n)
		}
	}

	// The key sets.
	for _, r := range replicas {
		r.check(t, runStart)
	}
	a, bb := replicas[0].kidsSeen(), replicas[1].kidsSeen()
	// A key first seen at the very end may have reached one sampler only.
	late := runStart.Add(runTime - time.Second)
	for _, pair := range [][2]*krReplica{{replicas[0], replicas[1]}, {replicas[1], replicas[0]}} {
		for kid, first := range pair[0].firstSeen {
			if !pair[1].hasSeen(kid) && first.Before(late) {
				t.Errorf("replica %s published key %s (from +%.1fs) that replica %s never did", pair[0].name, krShort(kid),
					first.Sub(runStart).Seconds(), pair[1].name)
			}
		}
	}
	t.Logf("distinct keys seen: %d on A, %d on B; total test time %s", len(a), len(bb), time.Since(start).Round(time.Millisecond))
}

// krAwaitPhase returns lead before a signing key takes over, as seen
// from r's JWKS: a new key (listed first, the newest) is published
// krPrepublish before it signs, so the next one signs krPrepublish after
// it appears, or a rotation later when keys are not pre-published.
func krAwaitPhase(t *testing.T, r *krReplica, lead time.Duration) {
	t.Helper()
	url := "https://" + r.proc.Addr + "/.well-known/jwks.json"
	newest := func() string {
		t.Helper()
		kids, _, err := r.fetch(context.Background(), url)
		if err != nil {
			t.Fatalf("replica %s: %v", r.name, err)
		}
		if len(kids) == 0 {
			t.Fatalf("replica %s's JWKS holds no key", r.name)
		}
		return kids[0]
	}
	first, limit := newest(), time.Now().Add(3*krRotation)
	for newest() == first {
		if time.Now().After(limit) {
			t.Fatalf("replica %s: no new key in the JWKS within %s (rotation every %s)", r.name, 3*krRotation, krRotation)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep((max(krPrepublish, 0) + krRotation - lead) % krRotation)
}

// krReplica is one broker replica the test connects through, and what its
// JWKS showed.
type krReplica struct {
	name  string
	proc  *jimmproc.Process
	caPEM string
	http  *http.Client

	logins, failed atomic.Int64

	// Written by sample only, read after it returned.
	samples      []krSample
	sampleErrs   []string
	cacheControl string
	firstSeen    map[string]time.Time
}

// krSample is one read of a JWKS.
type krSample struct {
	at   time.Time
	kids []string
}

func krNewReplica(t *testing.T, name string, p *jimmproc.Process, caPEM string) *krReplica {
	t.Helper()
	if caPEM == "" {
		ca, err := os.ReadFile(p.CACertFile)
		if err != nil {
			t.Fatalf("replica %s's CA: %v", name, err)
		}
		caPEM = string(ca)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		t.Fatalf("replica %s's CA holds no certificate", name)
	}
	return &krReplica{
		name: name, proc: p, caPEM: caPEM,
		// As a controller fetches it: the address in the URL, checked
		// against the broker's CA.
		http: &http.Client{
			Timeout:   2 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		},
		firstSeen: map[string]time.Time{},
	}
}

// loginAndCall opens a new model connection through the replica (the
// broker logs in to the model's controller with a token it signs), calls
// FullStatus on it and closes it.
func (r *krReplica) loginAndCall(e *brokerEnv, uuid string) error {
	info := e.apiInfo(uuid)
	info.Addrs, info.CACert = []string{r.proc.Addr}, r.caPEM
	conn, err := api.Open(info, dialOpts)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	defer conn.Close()
	var st params.FullStatus
	if err := conn.APICall("Client", conn.BestFacadeVersion("Client"), "", "FullStatus", params.StatusParams{}, &st); err != nil {
		return fmt.Errorf("FullStatus: %w", err)
	}
	if st.Model.Name == "" {
		return errors.New("FullStatus: no model name")
	}
	return nil
}

// sample reads the replica's JWKS every krSampleEvery until ctx ends.
func (r *krReplica) sample(ctx context.Context) {
	url := "https://" + r.proc.Addr + "/.well-known/jwks.json"
	tick := time.NewTicker(krSampleEvery)
	defer tick.Stop()
	for {
		at := time.Now()
		kids, cc, err := r.fetch(ctx, url)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.sampleErrs = append(r.sampleErrs, fmt.Sprintf("%s: %v", at.Format("15:04:05.000"), err))
		default:
			r.samples = append(r.samples, krSample{at: at, kids: kids})
			r.cacheControl = cc
			for _, k := range kids {
				if _, ok := r.firstSeen[k]; !ok {
					r.firstSeen[k] = at
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (r *krReplica) fetch(ctx context.Context, url string) (kids []string, cacheControl string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: %s: %q", url, resp.Status, body)
	}
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, "", fmt.Errorf("GET %s: %v: %q", url, err, body)
	}
	for _, k := range doc.Keys {
		if k.Kid == "" {
			return nil, "", fmt.Errorf("GET %s: a key without a kid: %s", url, body)
		}
		kids = append(kids, k.Kid)
	}
	return kids, resp.Header.Get("Cache-Control"), nil
}

func (r *krReplica) hasSeen(kid string) bool { _, ok := r.firstSeen[kid]; return ok }

func (r *krReplica) kidsSeen() []string {
	var out []string
	for k := range r.firstSeen {
		out = append(out, k)
	}
	return out
}

// check checks what the replica's JWKS showed during the run.
func (r *krReplica) check(t *testing.T, runStart time.Time) {
	t.Helper()
	if len(r.sampleErrs) > 0 {
		t.Errorf("replica %s: %d reads of the JWKS failed; first: %s", r.name, len(r.sampleErrs), r.sampleErrs[0])
	}
	if len(r.samples) < 10 {
		t.Fatalf("replica %s: only %d reads of the JWKS", r.name, len(r.samples))
	}

	// The timeline, as it changed.
	var (
		lines    []string
		prev     []string
		maxKeys  int
		overlaps int
	)
	for _, s := range r.samples {
		maxKeys = max(maxKeys, len(s.kids))
		if len(s.kids) >= 2 {
			overlaps++
		}
		if len(s.kids) > krMaxKeys {
			t.Errorf("replica %s: at +%.1fs the JWKS held %d keys; want at most %d (retired keys whose tokens expired are removed)",
				r.name, s.at.Sub(runStart).Seconds(), len(s.kids), krMaxKeys)
		}
		if len(s.kids) == 0 {
			t.Errorf("replica %s: at +%.1fs the JWKS held no key", r.name, s.at.Sub(runStart).Seconds())
		}
		if dup := krDuplicate(s.kids); dup != "" {
			t.Errorf("replica %s: at +%.1fs the JWKS held key %s twice", r.name, s.at.Sub(runStart).Seconds(), krShort(dup))
		}
		cur := slices.Sorted(slices.Values(s.kids))
		if !slices.Equal(cur, prev) {
			var names []string
			for _, k := range s.kids {
				names = append(names, krShort(k))
			}
			lines = append(lines, fmt.Sprintf("  +%5.2fs %s", s.at.Sub(runStart).Seconds(), strings.Join(names, " ")))
			prev = cur
		}
	}
	t.Logf("replica %s: %d JWKS reads, %d distinct keys, at most %d at once, 2+ at once in %d reads; Cache-Control %q; changes:\n%s",
		r.name, len(r.samples), len(r.firstSeen), maxKeys, overlaps, r.cacheControl, strings.Join(lines, "\n"))

	if len(r.firstSeen) < krMinKids {
		t.Errorf("replica %s: the JWKS showed %d distinct keys during the run; want at least %d (a rotation every %s)",
			r.name, len(r.firstSeen), krMinKids, krRotation)
	}
	if maxKeys < 2 {
		t.Errorf("replica %s: the JWKS never held two keys at once; want the next key published before it signs and retired ones kept", r.name)
	}

	// Keys go away: none of the first read's keys is left at the end
	// (the run is twice as long as a key's life).
	first, last := r.samples[0], r.samples[len(r.samples)-1]
	for _, k := range first.kids {
		if slices.Contains(last.kids, k) {
			t.Errorf("replica %s: key %s, published at the start, is still published %.1fs later; want it removed %s after it retired",
				r.name, krShort(k), last.at.Sub(first.at).Seconds(), krTokenTTL)
		}
	}

	// Keys whose whole publication the samples saw: published for at
	// least a signing period plus the token lifetime (less the sampling
	// error), and removed soon after.
	lastSeen := map[string]time.Time{}
	for _, s := range r.samples {
		for _, k := range s.kids {
			lastSeen[k] = s.at
		}
	}
	minLife := krRotation + krTokenTTL - 2*krSampleEvery - 100*time.Millisecond
	maxLife := krPrepublish + krRotation + krTokenTTL + krRemovalSlack
	whole := 0
	for k, from := range r.firstSeen {
		to := lastSeen[k]
		if !from.After(first.at) || !to.Before(last.at) {
			continue // published before the run, or still at its end
		}
		whole++
		life := to.Sub(from)
		if life < minLife {
			t.Errorf("replica %s: key %s was published for only %.1fs (+%.1fs to +%.1fs); want at least %s: its signing period (%s) and the lifetime of the tokens it signed (%s)",
				r.name, krShort(k), life.Seconds(), from.Sub(runStart).Seconds(), to.Sub(runStart).Seconds(), minLife, krRotation, krTokenTTL)
		}
		if life > maxLife {
			t.Errorf("replica %s: key %s was published for %.1fs (+%.1fs to +%.1fs); want at most %s: pre-publication %s, signing %s, token lifetime %s",
				r.name, krShort(k), life.Seconds(), from.Sub(runStart).Seconds(), to.Sub(runStart).Seconds(), maxLife, krPrepublish, krRotation, krTokenTTL)
		}
	}
	if whole == 0 {
		t.Errorf("replica %s: no key was both published and removed during the %s run", r.name, krRunFor)
	}
}

func krDuplicate(kids []string) string {
	seen := map[string]bool{}
	for _, k := range kids {
		if seen[k] {
			return k
		}
		seen[k] = true
	}
	return ""
}

// krShort abbreviates a key id for the log.
func krShort(kid string) string {
	if len(kid) > 8 {
		return kid[:8]
	}
	return kid
}
