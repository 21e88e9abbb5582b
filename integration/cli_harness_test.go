package integration

// The CLI suite's harness: a broker with its controllers and an identity
// provider (the existing brokerEnv), the stock juju CLI pointed at it
// (internal/jujucli), the cases of issue 11's numbered items, and the
// table of results the suite prints at the end.
//
// Cases register themselves in cliCases, from cli_test.go and the
// cli_<item>_test.go files.

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/juju/juju/api/base"
	"github.com/juju/juju/api/client/modelmanager"

	"github.com/jimmbroker/jimm/integration/internal/jujucli"
	"github.com/jimmbroker/jimm/integration/internal/oidcproc"
)

// cliControllerName is the broker's name in the CLI's store, as a JAAS
// user would have it.
const cliControllerName = "jimm"

// cliAdminAccount is the CLI's account on the broker as its bootstrap
// admin.
var cliAdminAccount = jujucli.Account{User: "admin", Password: brokerAdminPassword, LastKnownAccess: "superuser"}

// cliCase is one case of the suite: a variant of one numbered item of
// issue 11.
type cliCase struct {
	item string // e.g. "01-add-model": the item's number and command
	name string // the variant, e.g. "cloud-region"
	run  func(t *testing.T, s *cliSuite)
}

// cliCases are the suite's cases, in the order registered; TestCLI runs
// them item by item (items in the order of their names).
var cliCases []cliCase

// registerCLI adds cases to the suite (each cli_<item>_test.go calls it from init).
func registerCLI(cases ...cliCase) { cliCases = append(cliCases, cases...) }

// cliSuite is what the cases share: the broker, its controllers and dex,
// the juju CLI logged in to the broker as admin, and the Go client for
// setting up what a case needs without the CLI.
type cliSuite struct {
	e     *brokerEnv
	bin   string
	dex   *oidcproc.Dex
	admin *jujucli.CLI
	mm    *modelmanager.Client

	mu   sync.Mutex
	ran  map[string][]string // commands each case ran, by test name
	seq  int
	tdir func() string // temporary directories that outlive a case
}

// newCLISuite starts dex, a broker trusting it with the three controllers,
// and a juju CLI whose store knows the broker as controller "jimm", logged
// in as the bootstrap admin.
func newCLISuite(t *testing.T, bin string) *cliSuite {
	t.Helper()
	dexBin := providerBin(t, oidcproc.DexBinEnv)
	bins := buildBrokerBins(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dexDir := t.TempDir()
	if _, err := oidcproc.PrepareDexTLS(dexDir, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	dex := startDexWith(t, ctx, oidcproc.DexOptions{Bin: dexBin, Dir: dexDir, Addr: freeAddr(t)})
	e := newOIDCBrokerEnv(t, bins, dex.Issuer, oidcproc.BrokerClientID, oidcproc.BrokerClientSecret, dex.CACertFile)
	e.addControllers(t, threeControllers)
	s := &cliSuite{e: e, bin: bin, dex: dex, ran: map[string][]string{}, tdir: t.TempDir}
	s.admin = s.newCLI(t, &cliAdminAccount)
	s.mm = modelmanager.NewClient(e.open(t, ""))
	return s
}

// newCLI returns a juju CLI with a store of its own that knows the broker
// as controller "jimm" (its address and CA only), with acct as the
// account on it (nil: none; the CLI has to log in). The store lives as
// long as the suite.
func (s *cliSuite) newCLI(t *testing.T, acct *jujucli.Account) *jujucli.CLI {
	t.Helper()
	c, err := jujucli.New(s.bin, s.tdir())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddController(s.brokerController(), acct); err != nil {
		t.Fatal(err)
	}
	return c
}

// brokerController is the broker as the CLI's controllers.yaml knows it.
func (s *cliSuite) brokerController() jujucli.Controller {
	p := s.e.broker()
	return jujucli.Controller{
		Name: cliControllerName, UUID: p.UUID, APIEndpoints: []string{p.Addr}, CACert: s.e.caPEM,
		Cloud: "localhost", Region: "east", AgentVersion: "3.5.4",
	}
}

// addDirectController adds development controller name of the suite to
// c's store under its own name, with its admin account: what a user who
// knows that controller has (juju migrate needs the target in the
// client's store).
func (s *cliSuite) addDirectController(t *testing.T, c *jujucli.CLI, name string) {
	t.Helper()
	ctl, ok := s.e.ctls[name]
	if !ok {
		t.Fatalf("no controller %q", name)
	}
	f := ctl.File
	s.addDirectControllerFile(t, c, name, f.UUID, f.APIAddresses, f.CACert, f.AdminUser, f.AdminPassword)
}

// addDirectControllerFile adds a controller to c's store as name, with a
// password account on it; the broker stays c's current controller.
func (s *cliSuite) addDirectControllerFile(t *testing.T, c *jujucli.CLI, name, uuid string, addrs []string, caCert, user, password string) {
	t.Helper()
	err := c.AddController(jujucli.Controller{
		Name: name, UUID: uuid, APIEndpoints: addrs, CACert: caCert, Cloud: "localhost", AgentVersion: "3.5.4",
	}, &jujucli.Account{User: user, Password: password, LastKnownAccess: "superuser"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddController(s.brokerController(), nil); err != nil {
		t.Fatal(err)
	}
}

// record notes that the case t ran a command, for the final table.
func (s *cliSuite) record(t *testing.T, res jujucli.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ran[t.Name()] = append(s.ran[t.Name()], res.Command())
}

// run runs juju with c (the admin's CLI when nil) and returns what it
// printed; a command that cannot run or hangs past its timeout fails the
// case.
func (s *cliSuite) run(t *testing.T, c *jujucli.CLI, args ...string) jujucli.Result {
	t.Helper()
	return s.runIn(t, c, "", args...)
}

// runIn is run with stdin.
func (s *cliSuite) runIn(t *testing.T, c *jujucli.CLI, stdin string, args ...string) jujucli.Result {
	t.Helper()
	if c == nil {
		c = s.admin
	}
	res, err := c.Run(context.Background(), stdin, args...)
	s.record(t, res)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: exit %d in %s", res.Command(), res.ExitCode, res.Duration.Round(time.Millisecond))
	return res
}

// ok runs juju, which must exit 0, and returns its result.
func (s *cliSuite) ok(t *testing.T, c *jujucli.CLI, args ...string) jujucli.Result {
	t.Helper()
	res := s.run(t, c, args...)
	if res.ExitCode != 0 {
		t.Fatalf("want exit 0:\n%s", res)
	}
	return res
}

// json runs juju with --format json, which must exit 0, and decodes its
// output strictly into v.
func (s *cliSuite) json(t *testing.T, c *jujucli.CLI, v any, args ...string) jujucli.Result {
	t.Helper()
	res := s.ok(t, c, append(args, "--format", "json")...)
	// Decoding keeps what v held where the output is silent (omitempty
	// fields): start from zero.
	reflect.ValueOf(v).Elem().SetZero()
	if err := jujucli.DecodeJSON(res.Stdout, v); err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	return res
}

// yaml runs juju with --format yaml, which must exit 0, and decodes its
// output strictly into v.
func (s *cliSuite) yaml(t *testing.T, c *jujucli.CLI, v any, args ...string) jujucli.Result {
	t.Helper()
	res := s.ok(t, c, append(args, "--format", "yaml")...)
	reflect.ValueOf(v).Elem().SetZero()
	if err := jujucli.DecodeYAML(res.Stdout, v); err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	return res
}

// refused runs juju, which must exit 1 saying "ERROR <msg>" on stderr.
func (s *cliSuite) refused(t *testing.T, c *jujucli.CLI, msg string, args ...string) jujucli.Result {
	t.Helper()
	res := s.run(t, c, args...)
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, "ERROR "+msg) {
		t.Errorf("want exit 1 saying %q:\n%s", "ERROR "+msg, res)
	}
	return res
}

// usage runs juju, which must refuse its arguments before doing anything
// (exit 2) saying "ERROR <msg>" on stderr.
func (s *cliSuite) usage(t *testing.T, c *jujucli.CLI, msg string, args ...string) jujucli.Result {
	t.Helper()
	res := s.run(t, c, args...)
	if res.ExitCode != 2 || !strings.Contains(res.Stderr, "ERROR "+msg) {
		t.Errorf("want exit 2 (usage) saying %q:\n%s", "ERROR "+msg, res)
	}
	return res
}

// trace runs juju with the RPC trace on, which must exit 0, and returns
// the calls it made after logging in.
func (s *cliSuite) trace(t *testing.T, c *jujucli.CLI, args ...string) (jujucli.Result, []jujucli.Call) {
	t.Helper()
	if c == nil {
		c = s.admin
	}
	res, calls, err := c.Trace(context.Background(), "", args...)
	s.record(t, res)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("want exit 0:\n%s", res)
	}
	return res, jujucli.WithoutLogin(calls)
}

// newModel creates a model owned by admin in localhost/region with the Go
// client (so that cases that are not about add-model do not depend on it).
func (s *cliSuite) newModel(t *testing.T, name, region string) base.ModelInfo {
	t.Helper()
	return createModel(t, s.e, s.mm, name, region)
}

// modelName makes model names unique within the suite.
func (s *cliSuite) modelName(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("%s-%d", prefix, s.seq)
}

// runCLICases runs the registered cases as subtests, one per item with
// one per variant inside, and logs the table of results at the end.
func runCLICases(t *testing.T, s *cliSuite) {
	var items []string
	byItem := map[string][]cliCase{}
	for _, c := range cliCases {
		if _, ok := byItem[c.item]; !ok {
			items = append(items, c.item)
		}
		byItem[c.item] = append(byItem[c.item], c)
	}
	slices.Sort(items)
	type row struct {
		name   string
		result string
	}
	var rows []row
	for _, item := range items {
		t.Run(item, func(t *testing.T) {
			for _, c := range byItem[item] {
				start := time.Now()
				passed := t.Run(c.name, func(t *testing.T) { c.run(t, s) })
				result := "PASS"
				if !passed {
					result = "FAIL"
				}
				rows = append(rows, row{item + "/" + c.name, fmt.Sprintf("%s (%s)", result, time.Since(start).Round(time.Millisecond))})
			}
		})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "juju CLI through the broker, %d cases:\n", len(rows))
	width := 0
	for _, r := range rows {
		width = max(width, len(r.name))
	}
	for _, r := range rows {
		s.mu.Lock()
		cmds := s.ran[t.Name()+"/"+r.name]
		s.mu.Unlock()
		fmt.Fprintf(&b, "  %-*s  %s\n", width, r.name, r.result)
		for _, c := range cmds {
			fmt.Fprintf(&b, "  %-*s    %s\n", width, "", c)
		}
	}
	t.Log(b.String())
}
