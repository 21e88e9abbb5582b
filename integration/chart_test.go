package integration

// The Helm chart, charts/jimm. With each values file CI knows (the
// defaults, values-ha.yaml and ci/*.yaml): helm lint --strict, then helm
// template, every rendered document strict-decoded into its Kubernetes Go
// type (an unknown or duplicated field fails, and so does a kind without a
// Go type), and the properties an operator relies on checked. The PromQL of
// the alerts and of the Grafana dashboard must parse and name only metrics
// that a live jimmd exports (chart_metrics_test.go), and the probes' paths
// must answer on a live jimmd's metrics listener.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8sjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/jimmbroker/jimm/integration/internal/devproc"
)

// helmBinEnv names the helm binary .ci/tools.sh builds.
const helmBinEnv = "JIMM_HELM_BIN"

// The release the chart is rendered as.
const (
	chartRelease   = "jimm"
	chartNamespace = "jimm-test"
	// chartFullname is the objects' name for chartRelease.
	chartFullname = "jimm"
)

// The broker's ports, as jimmd serves them in the container.
const (
	apiPort     = 17070
	metricsPort = 9090
)

// secretEnv are the variables that carry secrets: each must come from a
// Secret (valueFrom.secretKeyRef), never from a value in the chart.
var secretEnv = []string{"JIMM_DSN", "JIMM_ADMIN_PASSWORD", "JIMM_SECRETS_KEY", "JIMM_OIDC_CLIENT_SECRET", "JIMM_SECRETS_KEY_FILE"}

// chartAlerts are the alerts the PrometheusRule must hold.
var chartAlerts = []string{
	"JimmBrokerDown", "JimmReplicaNotReady", "JimmControllerDown",
	"JimmMigrationFailed", "JimmAuditEventsDropped", "JimmLoginFailuresSpiking",
}

// chartCase is one values file the chart is linted and rendered with.
type chartCase struct {
	name   string // as shown: "defaults", "values-ha.yaml", "ci/ha-values.yaml"
	values string // the file; "" for the chart's defaults
}

// chartDoc is one rendered document, decoded.
type chartDoc struct {
	source string // the template, from helm's "# Source:" line
	gvk    schema.GroupVersionKind
	obj    runtime.Object // nil for the kinds checked without Go types
	raw    []byte
}

// chartRender is what one case renders.
type chartRender struct {
	c    chartCase
	docs []chartDoc
}

// promExpr is a PromQL expression the chart ships, with where it is.
type promExpr struct {
	where, expr string
}

func TestChart(t *testing.T) {
	t.Parallel()
	helm := toolBin(t, helmBinEnv, "the chart tests")
	root, err := devproc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	chart := filepath.Join(root, "charts", "jimm")
	bins := buildBrokerBins(t)
	flags := jimmdFlags(t, bins.jimmd)
	dec := newChartDecoder(t)

	var (
		exprs      []promExpr
		probePaths = map[string]bool{}
	)
	for _, c := range chartCases(t, chart) {
		t.Run(strings.ReplaceAll(c.name, "/", "_"), func(t *testing.T) {
			helmLint(t, helm, chart, c)
			r := helmTemplate(t, helm, chart, c, dec)
			checkChart(t, r, chart, flags)
			exprs = append(exprs, ruleExprs(r)...)
			for _, d := range r.docs {
				if dep, ok := d.obj.(*appsv1.Deployment); ok {
					for _, p := range deploymentProbes(dep) {
						probePaths[p.HTTPGet.Path] = true
					}
				}
			}
		})
	}
	t.Run("Dashboard", func(t *testing.T) {
		exprs = append(exprs, dashboardExprs(t, filepath.Join(chart, "dashboards", "jimm.json"))...)
	})
	t.Run("CloudNativePG", func(t *testing.T) { checkCNPGExample(t, chart, dec) })
	var used map[string][]string // metric name → where the chart uses it
	t.Run("PromQL", func(t *testing.T) { used = parsePromQL(t, exprs) })
	t.Run("LiveMetrics", func(t *testing.T) {
		if len(used) == 0 {
			t.Fatal("no metric names to look for: the PromQL subtest found none")
		}
		checkLiveMetrics(t, bins, used, probePaths)
	})
}

// chartCases are the chart's defaults, values-ha.yaml and every ci/*.yaml.
func chartCases(t *testing.T, chart string) []chartCase {
	t.Helper()
	cases := []chartCase{{name: "defaults"}, {name: "values-ha.yaml", values: filepath.Join(chart, "values-ha.yaml")}}
	ci, err := filepath.Glob(filepath.Join(chart, "ci", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ci) == 0 {
		t.Fatalf("no values files in %s", filepath.Join(chart, "ci"))
	}
	sort.Strings(ci)
	for _, f := range ci {
		cases = append(cases, chartCase{name: "ci/" + filepath.Base(f), values: f})
	}
	return cases
}

// runHelm runs helm with a home of the test's own and returns its stdout;
// a failure fails the test with helm's output.
func runHelm(t *testing.T, helm string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func valuesArgs(c chartCase) []string {
	if c.values == "" {
		return nil
	}
	return []string{"-f", c.values}
}

// helmLint runs helm lint --strict, where a warning fails too.
func helmLint(t *testing.T, helm, chart string, c chartCase) {
	t.Helper()
	out := runHelm(t, helm, append([]string{"lint", "--strict", chart}, valuesArgs(c)...)...)
	if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
		t.Errorf("helm lint --strict with %s:\n%s", c.name, out)
	}
}

// helmTemplate renders the chart and decodes every document.
func helmTemplate(t *testing.T, helm, chart string, c chartCase, dec *chartDecoder) chartRender {
	t.Helper()
	args := append([]string{"template", chartRelease, chart, "--namespace", chartNamespace}, valuesArgs(c)...)
	out := runHelm(t, helm, args...)
	r := chartRender{c: c}
	for _, raw := range splitYAML(t, out) {
		r.docs = append(r.docs, dec.decode(t, raw))
	}
	if len(r.docs) == 0 {
		t.Fatalf("helm template with %s rendered nothing", c.name)
	}
	return r
}

// splitYAML splits a stream of YAML documents, leaving out empty ones
// (only comments or blanks).
func splitYAML(t *testing.T, stream string) [][]byte {
	t.Helper()
	rd := k8syaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	var docs [][]byte
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("split the rendered documents: %v", err)
		}
		empty := true
		for _, line := range strings.Split(string(doc), "\n") {
			if l := strings.TrimSpace(line); l != "" && l != "---" && !strings.HasPrefix(l, "#") {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, doc)
		}
	}
}

// chartDecoder strict-decodes documents into the Go types of Kubernetes
// (client-go's scheme), the Prometheus operator (ServiceMonitor,
// PrometheusRule), the Gateway API (TLSRoute) and CloudNativePG (the
// example's Cluster).
type chartDecoder struct {
	scheme *runtime.Scheme
	strict *k8sjson.Serializer
}

func newChartDecoder(t *testing.T) *chartDecoder {
	t.Helper()
	s := runtime.NewScheme()
	for name, add := range map[string]func(*runtime.Scheme) error{
		"client-go": clientgoscheme.AddToScheme, "monitoring.coreos.com/v1": monitoringv1.AddToScheme,
		"gateway.networking.k8s.io/v1": gatewayv1.Install, "postgresql.cnpg.io/v1": cnpgv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			t.Fatalf("register the %s types: %v", name, err)
		}
	}
	return &chartDecoder{scheme: s, strict: k8sjson.NewSerializerWithOptions(k8sjson.DefaultMetaFactory, s, s,
		k8sjson.SerializerOptions{Yaml: true, Strict: true})}
}

// certManagerCertificate is the one kind the chart renders that has no Go
// types here (cert-manager's are not a dependency): it is decoded strictly
// into certificate below, which holds the fields of cert-manager.io/v1
// Certificate the chart may set, rather than into cert-manager's own type.
var certManagerCertificate = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}

// certificate is the part of cert-manager.io/v1 Certificate the chart uses;
// another field fails the strict decoding.
type certificate struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		SecretName string `json:"secretName"`
		IssuerRef  struct {
			Name  string `json:"name"`
			Kind  string `json:"kind"`
			Group string `json:"group"`
		} `json:"issuerRef"`
		CommonName  string   `json:"commonName"`
		DNSNames    []string `json:"dnsNames"`
		IPAddresses []string `json:"ipAddresses"`
		Duration    string   `json:"duration"`
		RenewBefore string   `json:"renewBefore"`
		PrivateKey  struct {
			Algorithm      string `json:"algorithm"`
			Size           int    `json:"size"`
			Encoding       string `json:"encoding"`
			RotationPolicy string `json:"rotationPolicy"`
		} `json:"privateKey"`
		Usages []string `json:"usages"`
	} `json:"spec"`
}

var sourceLine = regexp.MustCompile(`(?m)^# Source: (\S+)`)

// decode strict-decodes one document; a kind without a Go type fails.
func (d *chartDecoder) decode(t *testing.T, raw []byte) chartDoc {
	t.Helper()
	doc := chartDoc{source: "(unknown template)", raw: raw}
	if m := sourceLine.FindSubmatch(raw); m != nil {
		doc.source = string(m[1])
	}
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := sigsyaml.Unmarshal(raw, &tm); err != nil {
		t.Fatalf("%s: not YAML: %v\n%s", doc.source, err, raw)
	}
	if gv, err := schema.ParseGroupVersion(tm.APIVersion); err == nil && gv.WithKind(tm.Kind) == certManagerCertificate {
		var c certificate
		if err := sigsyaml.UnmarshalStrict(raw, &c); err != nil {
			t.Fatalf("%s: %s: %v\n%s", doc.source, certManagerCertificate, err, raw)
		}
		doc.gvk = certManagerCertificate
		return doc
	}
	obj, gvk, err := d.strict.Decode(raw, nil, nil)
	if err != nil {
		t.Fatalf("%s (%s %s): strict decoding: %v\n%s", doc.source, tm.APIVersion, tm.Kind, err, raw)
	}
	doc.obj, doc.gvk = obj, *gvk
	return doc
}

// objects returns the documents' objects of type T.
func objects[T runtime.Object](r chartRender) []T {
	var out []T
	for _, d := range r.docs {
		if o, ok := d.obj.(T); ok {
			out = append(out, o)
		}
	}
	return out
}

// one returns the only object of type T, failing unless there is exactly
// one.
func one[T runtime.Object](t *testing.T, r chartRender, what string) T {
	t.Helper()
	objs := objects[T](r)
	if len(objs) != 1 {
		var zero T
		t.Fatalf("%s renders %d %s, want 1", r.c.name, len(objs), what)
		return zero
	}
	return objs[0]
}

// jimmdFlags are the flags of jimmd serve, from its --help.
func jimmdFlags(t *testing.T, jimmd string) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, jimmd, "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("jimmd serve --help: %v\n%s", err, out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllSubmatch(out, -1) {
		flags[string(m[1])] = true
	}
	for _, f := range []string{"listen", "dsn", "tls-cert", "shutdown-grace"} {
		if !flags[f] {
			t.Fatalf("jimmd serve --help lists no --%s; its output:\n%s", f, out)
		}
	}
	return flags
}

// envFlag is the flag a JIMM_* variable sets, as jimmd reads it.
func envFlag(name string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "JIMM_"), "_", "-"))
}

// checkChart checks what one case renders.
func checkChart(t *testing.T, r chartRender, chart string, flags map[string]bool) {
	t.Helper()
	kinds := map[string]int{}
	for _, d := range r.docs {
		kinds[d.gvk.Kind]++
		if d.gvk.Kind == "Secret" {
			t.Errorf("%s renders a Secret (%s): secrets come only from existing Secrets", r.c.name, d.source)
		}
		meta := objectMeta(t, d)
		if meta.Labels["app.kubernetes.io/instance"] != chartRelease || meta.Labels["app.kubernetes.io/name"] != "jimm" {
			t.Errorf("%s: %s %s has labels %v, want app.kubernetes.io/name=jimm and instance=%s", d.source, d.gvk.Kind, meta.Name, meta.Labels, chartRelease)
		}
		if meta.Namespace != chartNamespace {
			t.Errorf("%s: %s %s is in namespace %q, want the release's, %s", d.source, d.gvk.Kind, meta.Name, meta.Namespace, chartNamespace)
		}
	}
	t.Logf("%s renders %v", r.c.name, kinds)

	dep := one[*appsv1.Deployment](t, r, "Deployments")
	pod := dep.Spec.Template
	replicas := int32(1)
	if dep.Spec.Replicas != nil {
		replicas = *dep.Spec.Replicas
	}
	if want := wantReplicas(t, r.c); replicas != want {
		t.Errorf("%s: Deployment replicas %d, want %d (the values' replicaCount)", r.c.name, replicas, want)
	}
	if r.c.name == "values-ha.yaml" && replicas != 3 {
		t.Errorf("values-ha.yaml: %d replicas, want 3", replicas)
	}
	if !labelsInclude(pod.Labels, dep.Spec.Selector.MatchLabels) {
		t.Errorf("%s: the pods' labels %v do not match the Deployment's selector %v", r.c.name, pod.Labels, dep.Spec.Selector.MatchLabels)
	}
	container := checkPod(t, r.c.name, pod.Spec, flags)
	tlsSecret := checkTLS(t, r.c.name, pod.Spec, container)

	// More than one replica: a PodDisruptionBudget, and replicas spread
	// over nodes and zones.
	pdbs := objects[*policyv1.PodDisruptionBudget](r)
	switch {
	case replicas > 1 && len(pdbs) != 1:
		t.Errorf("%s: %d replicas and %d PodDisruptionBudgets, want 1", r.c.name, replicas, len(pdbs))
	case replicas == 1 && len(pdbs) != 0:
		t.Errorf("%s: one replica and a PodDisruptionBudget, which would block every eviction", r.c.name)
	case len(pdbs) == 1:
		pdb := pdbs[0]
		if pdb.Spec.Selector == nil || !labelsInclude(pod.Labels, pdb.Spec.Selector.MatchLabels) || len(pdb.Spec.Selector.MatchLabels) == 0 {
			t.Errorf("%s: the PodDisruptionBudget's selector %v does not select the pods (labels %v)", r.c.name, pdb.Spec.Selector, pod.Labels)
		}
		if mu := pdb.Spec.MaxUnavailable; mu == nil || (mu.Type == intstr.Int && (mu.IntVal < 1 || mu.IntVal >= replicas)) {
			t.Errorf("%s: the PodDisruptionBudget's maxUnavailable %v: want at least 1 and fewer than the %d replicas", r.c.name, mu, replicas)
		}
	}
	if replicas > 1 {
		checkSpread(t, r.c.name, pod)
	}

	svc := checkServices(t, r, pod, container)
	checkMonitoring(t, r, chart, svc)
	checkExposure(t, r, svc, container)
	for _, d := range r.docs {
		if d.gvk != certManagerCertificate {
			continue
		}
		var c certificate
		if err := sigsyaml.Unmarshal(d.raw, &c); err != nil {
			t.Fatal(err)
		}
		if c.Spec.SecretName != tlsSecret {
			t.Errorf("%s: the Certificate fills Secret %q, but the pods mount %q", r.c.name, c.Spec.SecretName, tlsSecret)
		}
		if c.Spec.IssuerRef.Name == "" || !slices.Contains(c.Spec.DNSNames, "juju-apiserver") {
			t.Errorf("%s: the Certificate has issuer %q and DNS names %v; want an issuer, and juju-apiserver (what the Juju client verifies) among the names",
				r.c.name, c.Spec.IssuerRef.Name, c.Spec.DNSNames)
		}
	}
}

// objectMeta returns a document's name, namespace and labels.
func objectMeta(t *testing.T, d chartDoc) struct {
	Name      string
	Namespace string
	Labels    map[string]string
} {
	t.Helper()
	var m struct {
		Metadata struct {
			Name      string            `json:"name"`
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := sigsyaml.Unmarshal(d.raw, &m); err != nil {
		t.Fatalf("%s: %v", d.source, err)
	}
	return struct {
		Name      string
		Namespace string
		Labels    map[string]string
	}{m.Metadata.Name, m.Metadata.Namespace, m.Metadata.Labels}
}

// wantReplicas is the replicaCount of a case's values file (the chart's
// values.yaml for the defaults).
func wantReplicas(t *testing.T, c chartCase) int32 {
	t.Helper()
	file := c.values
	if file == "" {
		root, err := devproc.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		file = filepath.Join(root, "charts", "jimm", "values.yaml")
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		ReplicaCount *int32 `yaml:"replicaCount"`
	}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if v.ReplicaCount == nil {
		return 1 // the chart's default
	}
	return *v.ReplicaCount
}

func labelsInclude(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// checkPod checks the pod's security, probes, volumes and environment, and
// returns the jimmd container.
func checkPod(t *testing.T, name string, spec corev1.PodSpec, flags map[string]bool) corev1.Container {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext %s; want runAsNonRoot, runAsUser 65532, seccompProfile RuntimeDefault", name, jsonString(psc))
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the pod mounts a service account token; the broker calls no Kubernetes API", name)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1 (jimmd)", name, len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: container securityContext %s; want runAsNonRoot, runAsUser 65532, readOnlyRootFilesystem, "+
			"no privilege escalation, capabilities drop ALL, seccompProfile RuntimeDefault", name, jsonString(sc))
	}

	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["api"] != apiPort || ports["metrics"] != metricsPort {
		t.Errorf("%s: container ports %v, want api %d and metrics %d", name, ports, apiPort, metricsPort)
	}
	// Liveness and startup on /healthz, readiness on /readyz, all plain
	// HTTP on the metrics port.
	for _, p := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{{"startupProbe", c.StartupProbe, "/healthz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s", name, p.what)
			continue
		}
		g := p.probe.HTTPGet
		port := g.Port.IntVal
		if g.Port.Type == intstr.String {
			port = ports[g.Port.StrVal]
		}
		if g.Path != p.path || port != metricsPort || (g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP) {
			t.Errorf("%s: %s is %s %s on port %v (%d); want HTTP %s on the metrics port, %d", name, p.what, g.Scheme, g.Path, g.Port.String(), port, p.path, metricsPort)
		}
	}

	// The data directory and /tmp are emptyDirs (the root is read-only).
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	for _, dir := range []string{"/var/lib/jimm", "/tmp"} {
		m, ok := mounts[dir]
		if !ok || volumes[m.Name].EmptyDir == nil {
			t.Errorf("%s: %s is not an emptyDir mount (mounts %s)", name, dir, jsonString(c.VolumeMounts))
		}
	}
	if !slices.Contains(c.Args, "--data-dir=/var/lib/jimm") {
		t.Errorf("%s: args %q do not set --data-dir=/var/lib/jimm", name, c.Args)
	}
	for _, a := range c.Args {
		f, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !flags[f] {
			t.Errorf("%s: argument %q: jimmd serve has no flag --%s", name, a, f)
		}
	}

	// Every JIMM_* variable is a flag of jimmd; secrets come from Secrets.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
		if strings.HasPrefix(e.Name, "JIMM_") && !flags[envFlag(e.Name)] {
			t.Errorf("%s: environment variable %s: jimmd serve has no flag --%s", name, e.Name, envFlag(e.Name))
		}
		if slices.Contains(secretEnv, e.Name) {
			ref := (*corev1.SecretKeySelector)(nil)
			if e.ValueFrom != nil {
				ref = e.ValueFrom.SecretKeyRef
			}
			if e.Value != "" || ref == nil || ref.Name == "" || ref.Key == "" {
				t.Errorf("%s: %s is %s; a secret must come from a Secret (valueFrom.secretKeyRef with a name and key)", name, e.Name, jsonString(e))
			}
		}
	}
	for _, a := range c.Args {
		for _, s := range secretEnv {
			if strings.HasPrefix(a, "--"+envFlag(s)) {
				t.Errorf("%s: argument %q passes a secret on the command line", name, a)
			}
		}
	}
	for _, s := range []string{"JIMM_DSN", "JIMM_ADMIN_PASSWORD", "JIMM_SECRETS_KEY"} {
		if _, ok := env[s]; !ok {
			t.Errorf("%s: no %s in the container's environment", name, s)
		}
	}
	if env["JIMM_PUBLIC_ADDRESS"].Value == "" {
		t.Errorf("%s: no JIMM_PUBLIC_ADDRESS: clients would be told 127.0.0.1", name)
	}
	// The broker learns its container's memory limit, to collect garbage
	// harder before it is reached (--memory-limit); with no limit, it is
	// told none (a resourceFieldRef would give the node's memory).
	mem, limited := c.Resources.Limits[corev1.ResourceMemory]
	memEnv, told := env["JIMM_MEMORY_LIMIT"]
	switch {
	case limited && (!told || memEnv.ValueFrom == nil || memEnv.ValueFrom.ResourceFieldRef == nil ||
		memEnv.ValueFrom.ResourceFieldRef.Resource != "limits.memory" || memEnv.ValueFrom.ResourceFieldRef.ContainerName != c.Name):
		t.Errorf("%s: the container's memory limit is %s, and JIMM_MEMORY_LIMIT is %s; want it from resourceFieldRef limits.memory of container %s",
			name, mem.String(), jsonString(memEnv), c.Name)
	case !limited && told:
		t.Errorf("%s: JIMM_MEMORY_LIMIT is %s, with no memory limit on the container", name, jsonString(memEnv))
	}

	// The kubelet waits for the preStop sleep and the shutdown grace.
	grace, err := time.ParseDuration(env["JIMM_SHUTDOWN_GRACE"].Value)
	if err != nil {
		t.Errorf("%s: JIMM_SHUTDOWN_GRACE %q: %v", name, env["JIMM_SHUTDOWN_GRACE"].Value, err)
	}
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	if tg := spec.TerminationGracePeriodSeconds; tg == nil || time.Duration(*tg)*time.Second <= preStop+grace {
		t.Errorf("%s: terminationGracePeriodSeconds %v is not above the preStop sleep (%s) plus JIMM_SHUTDOWN_GRACE (%s)", name, jsonString(tg), preStop, grace)
	}
	return c
}

// checkTLS checks that a kubernetes.io/tls Secret is mounted and passed as
// --tls-cert and --tls-key, and returns its name.
func checkTLS(t *testing.T, name string, spec corev1.PodSpec, c corev1.Container) string {
	t.Helper()
	var secret, dir string
	for _, v := range spec.Volumes {
		if v.Secret == nil {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name && slices.Contains(c.Args, "--tls-cert="+m.MountPath+"/tls.crt") {
				secret, dir = v.Secret.SecretName, m.MountPath
				if !m.ReadOnly {
					t.Errorf("%s: the TLS Secret is mounted read-write at %s", name, m.MountPath)
				}
			}
		}
	}
	if secret == "" {
		t.Fatalf("%s: no Secret volume is mounted where --tls-cert points (args %q)", name, c.Args)
	}
	if !slices.Contains(c.Args, "--tls-key="+dir+"/tls.key") {
		t.Errorf("%s: args %q do not pass %s/tls.key as --tls-key", name, c.Args, dir)
	}
	return secret
}

// checkSpread checks that several replicas spread over nodes (a spread
// constraint or anti-affinity by hostname) and zones.
func checkSpread(t *testing.T, name string, pod corev1.PodTemplateSpec) {
	t.Helper()
	nodes, zones := false, false
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.LabelSelector == nil || !labelsInclude(pod.Labels, c.LabelSelector.MatchLabels) || len(c.LabelSelector.MatchLabels) == 0 {
			t.Errorf("%s: topology spread constraint on %s selects %v, not the pods (labels %v)", name, c.TopologyKey, c.LabelSelector, pod.Labels)
			continue
		}
		nodes = nodes || c.TopologyKey == "kubernetes.io/hostname"
		zones = zones || c.TopologyKey == "topology.kubernetes.io/zone"
	}
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		terms := a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
		for _, term := range terms {
			if term.TopologyKey == "kubernetes.io/hostname" && term.LabelSelector != nil && labelsInclude(pod.Labels, term.LabelSelector.MatchLabels) {
				nodes = true
			}
		}
	}
	if !nodes || !zones {
		t.Errorf("%s: replicas spread over nodes: %v, over zones: %v; want both (topologySpreadConstraints %s, affinity %s)",
			name, nodes, zones, jsonString(pod.Spec.TopologySpreadConstraints), jsonString(pod.Spec.Affinity))
	}
}

// checkServices checks that the Service named after the release has the
// api and metrics ports and every Service selects the pods on ports they
// have, and returns that Service.
func checkServices(t *testing.T, r chartRender, pod corev1.PodTemplateSpec, c corev1.Container) *corev1.Service {
	t.Helper()
	var main *corev1.Service
	containerPorts := map[string]bool{}
	for _, p := range c.Ports {
		containerPorts[p.Name] = true
	}
	for _, s := range objects[*corev1.Service](r) {
		if len(s.Spec.Selector) == 0 || !labelsInclude(pod.Labels, s.Spec.Selector) {
			t.Errorf("%s: Service %s selects %v, not the pods (labels %v)", r.c.name, s.Name, s.Spec.Selector, pod.Labels)
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort.Type != intstr.String || !containerPorts[p.TargetPort.StrVal] {
				t.Errorf("%s: Service %s port %s targets %s, which is no named port of the container", r.c.name, s.Name, p.Name, p.TargetPort.String())
			}
		}
		if s.Name == chartFullname {
			main = s
		} else {
			for _, p := range s.Spec.Ports {
				if p.TargetPort.StrVal == "metrics" {
					t.Errorf("%s: Service %s (type %s) exposes the metrics port, which also serves Go's profiles", r.c.name, s.Name, s.Spec.Type)
				}
			}
		}
	}
	if main == nil {
		t.Fatalf("%s: no Service %s", r.c.name, chartFullname)
	}
	ports := map[string]string{}
	for _, p := range main.Spec.Ports {
		ports[p.Name] = fmt.Sprintf("%d→%s", p.Port, p.TargetPort.String())
	}
	if want := map[string]string{"api": fmt.Sprintf("%d→api", apiPort), "metrics": fmt.Sprintf("%d→metrics", metricsPort)}; !mapsEqual(ports, want) {
		t.Errorf("%s: Service %s ports %v, want %v", r.c.name, main.Name, ports, want)
	}
	return main
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	return labelsInclude(a, b)
}

// checkMonitoring checks the ServiceMonitor, PrometheusRule and dashboard
// ConfigMap, when rendered.
func checkMonitoring(t *testing.T, r chartRender, chart string, svc *corev1.Service) {
	t.Helper()
	for _, sm := range objects[*monitoringv1.ServiceMonitor](r) {
		if len(sm.Spec.Selector.MatchLabels) == 0 || !labelsInclude(svc.Labels, sm.Spec.Selector.MatchLabels) {
			t.Errorf("%s: ServiceMonitor selects %v; Service %s has labels %v", r.c.name, sm.Spec.Selector.MatchLabels, svc.Name, svc.Labels)
		}
		for _, other := range objects[*corev1.Service](r) {
			if other.Name != svc.Name && labelsInclude(other.Labels, sm.Spec.Selector.MatchLabels) {
				t.Errorf("%s: ServiceMonitor also selects Service %s", r.c.name, other.Name)
			}
		}
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("%s: ServiceMonitor endpoints %s; want port metrics, path /metrics", r.c.name, jsonString(sm.Spec.Endpoints))
		}
	}
	for _, pr := range objects[*monitoringv1.PrometheusRule](r) {
		var alerts []string
		for _, g := range pr.Spec.Groups {
			for _, rule := range g.Rules {
				if rule.Alert != "" {
					alerts = append(alerts, rule.Alert)
				}
				if rule.Expr.String() == "" {
					t.Errorf("%s: rule %q has no expression", r.c.name, rule.Alert)
				}
				if rule.Annotations["summary"] == "" || rule.Labels["severity"] == "" {
					t.Errorf("%s: alert %s has no summary or no severity", r.c.name, rule.Alert)
				}
			}
		}
		for _, a := range chartAlerts {
			if !slices.Contains(alerts, a) {
				t.Errorf("%s: the PrometheusRule has no alert %s (it has %v)", r.c.name, a, alerts)
			}
		}
	}
	file, err := os.ReadFile(filepath.Join(chart, "dashboards", "jimm.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range objects[*corev1.ConfigMap](r) {
		if !strings.HasSuffix(cm.Name, "-dashboard") {
			continue
		}
		if cm.Labels["grafana_dashboard"] != "1" {
			t.Errorf("%s: dashboard ConfigMap %s has labels %v; the Grafana sidecar looks for grafana_dashboard: \"1\"", r.c.name, cm.Name, cm.Labels)
		}
		if got := cm.Data["jimm.json"]; strings.TrimSpace(got) != strings.TrimSpace(string(file)) {
			t.Errorf("%s: ConfigMap %s's jimm.json is not dashboards/jimm.json", r.c.name, cm.Name)
		}
	}
}

// checkExposure checks the Ingress, TLSRoute and NetworkPolicy, when
// rendered: they pass TLS through to the api port.
func checkExposure(t *testing.T, r chartRender, svc *corev1.Service, c corev1.Container) {
	t.Helper()
	for _, ing := range objects[*networkingv1.Ingress](r) {
		if ing.Annotations["nginx.ingress.kubernetes.io/ssl-passthrough"] != "true" {
			t.Errorf("%s: Ingress %s is not TLS passthrough (annotations %v)", r.c.name, ing.Name, ing.Annotations)
		}
		if len(ing.Spec.TLS) != 0 {
			t.Errorf("%s: Ingress %s terminates TLS itself", r.c.name, ing.Name)
		}
		for _, rule := range ing.Spec.Rules {
			if rule.Host == "" || rule.HTTP == nil {
				t.Errorf("%s: Ingress %s rule %s has no host (passthrough routes by SNI)", r.c.name, ing.Name, jsonString(rule))
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if b := p.Backend.Service; b == nil || b.Name != svc.Name || b.Port.Name != "api" {
					t.Errorf("%s: Ingress %s sends %s to %s, want Service %s port api", r.c.name, ing.Name, p.Path, jsonString(p.Backend), svc.Name)
				}
			}
		}
	}
	for _, route := range objects[*gatewayv1.TLSRoute](r) {
		if len(route.Spec.ParentRefs) == 0 || len(route.Spec.Hostnames) == 0 || len(route.Spec.Rules) != 1 {
			t.Errorf("%s: TLSRoute %s: parents %s, hostnames %v, %d rules; want a parent, a hostname and one rule",
				r.c.name, route.Name, jsonString(route.Spec.ParentRefs), route.Spec.Hostnames, len(route.Spec.Rules))
			continue
		}
		refs := route.Spec.Rules[0].BackendRefs
		if len(refs) != 1 || string(refs[0].Name) != svc.Name || refs[0].Port == nil || int32(*refs[0].Port) != servicePort(svc, "api") {
			t.Errorf("%s: TLSRoute %s sends to %s, want Service %s port %d (api)", r.c.name, route.Name, jsonString(refs), svc.Name, servicePort(svc, "api"))
		}
	}
	for _, np := range objects[*networkingv1.NetworkPolicy](r) {
		allowed := map[string]bool{}
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				if p.Port != nil {
					allowed[p.Port.String()] = true
				}
			}
		}
		if !allowed["api"] || !allowed["metrics"] {
			t.Errorf("%s: NetworkPolicy %s lets in ports %v, want api (clients, controllers fetching the JWKS) and metrics", r.c.name, np.Name, allowed)
		}
		for port := range allowed {
			if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == port }) {
				t.Errorf("%s: NetworkPolicy %s names port %s, which the container does not have", r.c.name, np.Name, port)
			}
		}
	}
}

func servicePort(svc *corev1.Service, name string) int32 {
	for _, p := range svc.Spec.Ports {
		if p.Name == name {
			return p.Port
		}
	}
	return -1
}

// deploymentProbes are the HTTP probes of a Deployment's containers.
func deploymentProbes(dep *appsv1.Deployment) []*corev1.Probe {
	var out []*corev1.Probe
	for _, c := range dep.Spec.Template.Spec.Containers {
		for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
			if p != nil && p.HTTPGet != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// ruleExprs are the expressions of the rendered PrometheusRules.
func ruleExprs(r chartRender) []promExpr {
	var out []promExpr
	for _, pr := range objects[*monitoringv1.PrometheusRule](r) {
		for _, g := range pr.Spec.Groups {
			for _, rule := range g.Rules {
				out = append(out, promExpr{where: fmt.Sprintf("%s: PrometheusRule %s, alert %s", r.c.name, pr.Name, rule.Alert), expr: rule.Expr.String()})
			}
		}
	}
	return out
}

// checkCNPGExample strict-decodes examples/cnpg-cluster.yaml into
// CloudNativePG's types and checks that values-ha.yaml takes the DSN from
// the Secret that Cluster makes (<cluster>-app, key uri).
func checkCNPGExample(t *testing.T, chart string, dec *chartDecoder) {
	t.Helper()
	file := filepath.Join(chart, "examples", "cnpg-cluster.yaml")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	docs := splitYAML(t, string(raw))
	if len(docs) != 1 {
		t.Fatalf("%s holds %d documents, want 1", file, len(docs))
	}
	d := dec.decode(t, docs[0])
	cluster, ok := d.obj.(*cnpgv1.Cluster)
	if !ok {
		t.Fatalf("%s is a %s, want a postgresql.cnpg.io/v1 Cluster", file, d.gvk)
	}
	if cluster.Spec.Instances < 2 || cluster.Spec.Bootstrap == nil || cluster.Spec.Bootstrap.InitDB == nil ||
		cluster.Spec.Bootstrap.InitDB.Database == "" || cluster.Spec.Bootstrap.InitDB.Owner == "" || cluster.Spec.StorageConfiguration.Size == "" {
		t.Errorf("%s: %d instances, bootstrap %s, storage %q; want at least 2 instances, an initdb database and owner, and a storage size",
			file, cluster.Spec.Instances, jsonString(cluster.Spec.Bootstrap), cluster.Spec.StorageConfiguration.Size)
	}
	haRaw, err := os.ReadFile(filepath.Join(chart, "values-ha.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ha struct {
		Database struct {
			ExistingSecret string `yaml:"existingSecret"`
			Key            string `yaml:"key"`
		} `yaml:"database"`
	}
	if err := yaml.Unmarshal(haRaw, &ha); err != nil {
		t.Fatal(err)
	}
	if want := cluster.Name + "-app"; ha.Database.ExistingSecret != want || ha.Database.Key != "uri" {
		t.Errorf("values-ha.yaml takes the DSN from Secret %q key %q; the example Cluster %s makes Secret %s with the DSN in key uri",
			ha.Database.ExistingSecret, ha.Database.Key, cluster.Name, want)
	}
}

func jsonString(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(raw)
}
