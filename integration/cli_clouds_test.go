package integration

// CLI cases: item 11, clouds,
// show-cloud, regions, credentials, show-credential and add-credential -c
// (Cloud(7) Clouds, CloudInfo, Cloud, CredentialContents,
// UpdateCredentialsCheckModels). The broker keeps credentials encrypted
// and passes a model's credential to the controller that hosts it.
//
// add-credential of an lxd credential is checked by the CLI itself,
// against the endpoint of the cloud's region (the first, or --region's;
// the cloud's own endpoint only when it has no regions): with none it
// wants a local LXD; with one (a controller on LXD shows its LXD's
// address), a certificate credential whose server-cert is for server
// authentication is only parsed. So the regions must come with an
// endpoint, which the broker passes on.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/names/v5"
)

func init() {
	registerCLI(
		cliCase{"11-clouds", "clouds", cliClouds},
		cliCase{"11-clouds", "show-cloud", cliShowCloud},
		cliCase{"11-clouds", "regions", cliRegions},
		cliCase{"11-clouds", "credentials", cliCredentials},
		cliCase{"11-clouds", "add-credential", cliAddCredential},
	)
}

// cliCloud is a cloud in `juju clouds` and `juju show-cloud` (cmd/juju/cloud
// CloudDetails).
type cliCloud struct {
	Name             string                     `json:"name,omitempty" yaml:"name,omitempty"`
	Summary          string                     `json:"summary,omitempty" yaml:"summary,omitempty"`
	Source           string                     `json:"defined,omitempty" yaml:"defined,omitempty"`
	CloudType        string                     `json:"type" yaml:"type"`
	CloudDescription string                     `json:"description,omitempty" yaml:"description,omitempty"`
	AuthTypes        []string                   `json:"auth-types,omitempty" yaml:"auth-types,omitempty"`
	Endpoint         string                     `json:"endpoint,omitempty" yaml:"endpoint,omitempty"`
	IdentityEndpoint string                     `json:"identity-endpoint,omitempty" yaml:"identity-endpoint,omitempty"`
	StorageEndpoint  string                     `json:"storage-endpoint,omitempty" yaml:"storage-endpoint,omitempty"`
	DefaultRegion    string                     `json:"default-region,omitempty" yaml:"default-region,omitempty"`
	CredentialCount  int                        `json:"credential-count,omitempty" yaml:"credential-count,omitempty"`
	Regions          map[string]any             `json:"regions,omitempty" yaml:"regions,omitempty"`
	Config           map[string]any             `json:"config,omitempty" yaml:"config,omitempty"`
	RegionConfig     map[string]any             `json:"region-config,omitempty" yaml:"region-config,omitempty"`
	CACredentials    []string                   `json:"ca-credentials,omitempty" yaml:"ca-credentials,omitempty"`
	Users            map[string]cliCloudUserOut `json:"users,omitempty" yaml:"users,omitempty"`
	SkipTLSVerify    bool                       `json:"skip-tls-verify,omitempty" yaml:"skip-tls-verify,omitempty"`
}

type cliCloudUserOut struct {
	DisplayName string `json:"display-name,omitempty" yaml:"display-name,omitempty"`
	Access      string `json:"access" yaml:"access"`
}

// wantCloud checks the broker's cloud as the CLI shows it.
func wantCloud(t *testing.T, what string, c cliCloud) {
	t.Helper()
	if c.CloudType != "lxd" || !slices.Contains(c.AuthTypes, "certificate") || c.Endpoint == "" ||
		c.Regions["east"] == nil || c.Regions["west"] == nil || c.Users["admin"].Access != "admin" {
		t.Errorf("%s: %+v; want type lxd, certificate auth, an endpoint, regions east and west, admin with admin access", what, c)
	}
}

func cliClouds(t *testing.T, s *cliSuite) {
	res := s.ok(t, nil, "clouds", "-c", cliControllerName)
	if !strings.Contains(res.Stdout, "Clouds available on the controller:") {
		t.Errorf("juju clouds -c %s lists no controller clouds:\n%s", cliControllerName, res)
	}
	wantFields(t, res, "localhost", "localhost", "lxd")
	var out map[string]cliCloud
	res = s.json(t, nil, &out, "clouds", "-c", cliControllerName)
	if len(out) != 1 {
		t.Errorf("juju clouds -c %s --format json: clouds %v, want localhost only", cliControllerName, keys(out))
	}
	wantCloud(t, "juju clouds --format json", out["localhost"])
	s.e.checkNoLeak(t, "juju clouds", res.Stdout)
}

func cliShowCloud(t *testing.T, s *cliSuite) {
	var out []cliCloud
	res := s.json(t, nil, &out, "show-cloud", "localhost", "-c", cliControllerName)
	if len(out) != 1 || out[0].Name != "localhost" {
		t.Fatalf("juju show-cloud localhost --format json: %+v", out)
	}
	wantCloud(t, "juju show-cloud", out[0])
	if want := fmt.Sprintf("Cloud %q from controller %q", "localhost", cliControllerName); out[0].Summary != want {
		t.Errorf("juju show-cloud summary %q, want %q", out[0].Summary, want)
	}
	s.e.checkNoLeak(t, "juju show-cloud", res.Stdout)
	s.refused(t, nil, "cloud nowhere not found", "show-cloud", "nowhere", "-c", cliControllerName)
}

func cliRegions(t *testing.T, s *cliSuite) {
	var out struct {
		Regions map[string]any `json:"controller-cloud-regions" yaml:"controller-cloud-regions"`
	}
	s.json(t, nil, &out, "regions", "localhost", "-c", cliControllerName)
	if out.Regions["east"] == nil || out.Regions["west"] == nil {
		t.Errorf("juju regions localhost: %v, want east and west", keys(out.Regions))
	}
	res := s.ok(t, nil, "regions", "localhost", "-c", cliControllerName)
	for _, r := range []string{"east", "west"} {
		if tableRow(res.Stdout, r) == nil {
			t.Errorf("juju regions localhost does not list %s:\n%s", r, res)
		}
	}
}

// cliCredentialsOut is `juju credentials --format json` (cmd/juju/cloud
// CredentialsMap).
type cliCredentialsOut struct {
	Client     map[string]cliCloudCredentials `json:"client-credentials,omitempty" yaml:"client-credentials,omitempty"`
	Controller map[string]cliCloudCredentials `json:"controller-credentials,omitempty" yaml:"controller-credentials,omitempty"`
}

type cliCloudCredentials struct {
	DefaultCredential string `json:"default-credential,omitempty" yaml:"default-credential,omitempty"`
	DefaultRegion     string `json:"default-region,omitempty" yaml:"default-region,omitempty"`
	Credentials       map[string]struct {
		AuthType   string            `json:"auth-type" yaml:"auth-type"`
		Attributes map[string]string `json:"details,omitempty" yaml:"details,omitempty"`
		Revoked    bool              `json:"revoked,omitempty" yaml:"revoked,omitempty"`
		Label      string            `json:"label,omitempty" yaml:"label,omitempty"`
	} `json:"cloud-credentials,omitempty" yaml:"cloud-credentials,omitempty"`
}

// cliShowCredentialOut is `juju show-credential` (yaml only;
// cmd/juju/cloud ControllerCredentials).
type cliShowCredentialOut struct {
	Controller map[string]map[string]struct {
		Content map[string]string `yaml:"content"`
		Models  map[string]string `yaml:"models,omitempty"`
	} `yaml:"controller-credentials,omitempty"`
	Client map[string]any `yaml:"client-credentials,omitempty"`
}

func cliCredentials(t *testing.T, s *cliSuite) {
	name := s.modelName("cred")
	s.newModel(t, name, "east")
	var creds cliCredentialsOut
	res := s.json(t, nil, &creds, "credentials", "-c", cliControllerName)
	ours := creds.Controller["localhost"].Credentials
	if len(ours) == 0 {
		t.Fatalf("juju credentials -c %s: no credential on localhost:\n%s", cliControllerName, res)
	}
	var show cliShowCredentialOut
	s.yaml(t, nil, &show, "show-credential", "-c", cliControllerName)
	var models []string
	for credName, c := range show.Controller["localhost"] {
		if c.Content["auth-type"] == "" || c.Content["validity-check"] != "valid" {
			t.Errorf("juju show-credential: %s has content %v, want an auth type and validity-check valid", credName, c.Content)
		}
		if _, listed := ours[credName]; !listed {
			t.Errorf("juju show-credential shows %s, which juju credentials does not list (%v)", credName, keys(ours))
		}
		for m := range c.Models {
			models = append(models, m)
		}
	}
	if !slices.Contains(models, name) {
		t.Errorf("juju show-credential: models %v lack %s", models, name)
	}
	s.e.checkNoLeak(t, "juju credentials", res.Stdout)
}

// cliCertPEM makes a self-signed certificate and key, for server
// authentication when server is set.
func cliCertPEM(t *testing.T, cn string, server bool) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"lxd.example.com"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

// indent indents every line of s by n spaces, for a YAML block scalar.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
}

// cliAddCredential: a credential added with the CLI is the broker's to
// keep and to use: a model made with it gets it on its controller.
func cliAddCredential(t *testing.T, s *cliSuite) {
	clientCert, clientKey := cliCertPEM(t, "juju-client", false)
	serverCert, _ := cliCertPEM(t, "lxd", true)
	file := filepath.Join(t.TempDir(), "credentials.yaml")
	doc := fmt.Sprintf("credentials:\n  localhost:\n    cli-cred:\n      auth-type: certificate\n      client-cert: |\n%s\n      client-key: |\n%s\n      server-cert: |\n%s\n",
		indent(clientCert, 8), indent(clientKey, 8), indent(serverCert, 8))
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	res := s.ok(t, nil, "add-credential", "localhost", "-c", cliControllerName, "-f", file)
	want := fmt.Sprintf(`Controller credential "cli-cred" for user "admin" for cloud "localhost" on controller %q added.`, cliControllerName)
	if !strings.Contains(res.Stderr, want) {
		t.Errorf("juju add-credential does not say %q:\n%s", want, res)
	}
	var creds cliCredentialsOut
	s.json(t, nil, &creds, "credentials", "-c", cliControllerName, "--show-secrets")
	c, ok := creds.Controller["localhost"].Credentials["cli-cred"]
	if !ok || c.AuthType != "certificate" || c.Attributes["client-cert"] != clientCert {
		t.Errorf("juju credentials --show-secrets after add-credential: cli-cred is %+v (listed %v)", c, ok)
	}
	// A model made with it: the controller that hosts it has it too.
	name := s.modelName("cred")
	s.ok(t, nil, "add-model", name, "localhost/west", "--credential", "cli-cred")
	var out map[string]cliModelInfo
	s.json(t, nil, &out, "show-model", name)
	if mc := out[name].Credential; mc == nil || mc.Name != "cli-cred" || mc.Owner != "admin" {
		t.Errorf("juju show-model %s: credential %+v, want cli-cred of admin", name, mc)
	}
	uuid := out[name].UUID
	ctl := s.e.ctls[s.e.modelsByController(t)[uuid]]
	infos, err := modelmanager.NewClient(ctl.admin(t, "")).ModelInfo([]names.ModelTag{names.NewModelTag(uuid)})
	if err != nil || len(infos) != 1 || infos[0].Error != nil {
		t.Fatalf("ModelInfo of %s on its controller: %v %+v", name, err, infos)
	}
	if tag, err := names.ParseCloudCredentialTag(infos[0].Result.CloudCredentialTag); err != nil || tag.Name() != "cli-cred" || tag.Cloud().Id() != "localhost" {
		t.Errorf("the controller hosting %s has it with credential %q, want cli-cred on localhost", name, infos[0].Result.CloudCredentialTag)
	}
}
