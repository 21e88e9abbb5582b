package integration

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// No container engine runs on the machines the tests run on, so the
// image is never built here. What can be checked is: the Dockerfile's
// shape (every instruction known, its final stage's contract: base,
// user, entrypoint, ports, labels, what it copies) and its build stage,
// whose commands are run as they are, in the repository, with the
// stage's output directory moved into a temporary one: the binaries it
// makes must be static, stamped with the version given as a build
// argument, and be the files the final stage copies.

// dfInstruction is one Dockerfile instruction, continuation lines joined.
type dfInstruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
	Line int
}

// dfStage is a FROM and the instructions after it.
type dfStage struct {
	From, Name string
	Body       []dfInstruction
}

var dfKnown = []string{"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
	"MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}

// parseDockerfile splits a Dockerfile into global ARGs and stages.
func parseDockerfile(t *testing.T, text string) (globals []dfInstruction, stages []dfStage) {
	t.Helper()
	var cur strings.Builder
	start := 0
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := dfInstruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start}
		if !slices.Contains(dfKnown, in.Cmd) {
			t.Errorf("Dockerfile line %d: unknown instruction %q", in.Line, cmd)
		}
		switch {
		case in.Cmd == "FROM":
			f := strings.Fields(in.Args)
			st := dfStage{From: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.Name = f[2]
			} else if len(f) != 1 {
				t.Errorf("Dockerfile line %d: FROM %s: want an image and an optional AS name", in.Line, in.Args)
			}
			stages = append(stages, st)
		case len(stages) == 0:
			if in.Cmd != "ARG" {
				t.Errorf("Dockerfile line %d: %s before the first FROM (only ARG may come there)", in.Line, in.Cmd)
			}
			globals = append(globals, in)
		default:
			stages[len(stages)-1].Body = append(stages[len(stages)-1].Body, in)
		}
	}
	for i, raw := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(raw)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return globals, stages
}

// dfArgs reads ARG NAME=default instructions into vars.
func dfArgs(ins []dfInstruction, vars map[string]string) {
	for _, in := range ins {
		if in.Cmd != "ARG" {
			continue
		}
		name, def, _ := strings.Cut(in.Args, "=")
		if _, set := vars[name]; !set {
			vars[name] = strings.Trim(def, `"`)
		}
	}
}

var dfVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

func dfExpand(s string, vars map[string]string) string {
	return dfVar.ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m, "${}")
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

// dfLabels parses LABEL k="v" k2="v2".
var dfLabel = regexp.MustCompile(`([A-Za-z0-9._-]+)="([^"]*)"`)

func TestDockerfile(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatalf("read the Dockerfile: %v", err)
	}
	globals, stages := parseDockerfile(t, string(raw))
	if len(stages) != 2 {
		t.Fatalf("Dockerfile has %d stages, want 2 (build, final)", len(stages))
	}
	// Build arguments as a release would give them.
	vars := map[string]string{"VERSION": "1.2.3-test", "REVISION": "0123456789abcdef", "CREATED": "2026-12-05T00:00:00Z"}
	dfArgs(globals, vars)
	build, final := stages[0], stages[1]

	// The final stage's contract.
	if base := dfExpand(final.From, vars); !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final stage FROM %s, want scratch or distroless static", base)
	}
	got := map[string][]dfInstruction{}
	for _, in := range final.Body {
		got[in.Cmd] = append(got[in.Cmd], in)
	}
	for _, cmd := range []string{"RUN", "ADD", "SHELL", "CMD"} {
		if len(got[cmd]) > 0 {
			t.Errorf("final stage has %s (line %d): it must need no shell and take nothing but the build's output", cmd, got[cmd][0].Line)
		}
	}
	if u := got["USER"]; len(u) != 1 || u[0].Args != "65532:65532" {
		t.Errorf("final stage USER %+v, want one USER 65532:65532 (non-root, numeric so that runAsNonRoot can verify it)", u)
	}
	if e := got["ENTRYPOINT"]; len(e) != 1 {
		t.Errorf("final stage has %d ENTRYPOINTs, want 1", len(e))
	} else {
		var argv []string
		if err := json.Unmarshal([]byte(e[0].Args), &argv); err != nil || !slices.Equal(argv, []string{"jimmd", "serve"}) {
			t.Errorf("ENTRYPOINT %s, want the exec form [\"jimmd\", \"serve\"] (%v)", e[0].Args, err)
		}
	}
	var ports []string
	for _, in := range got["EXPOSE"] {
		ports = append(ports, strings.Fields(in.Args)...)
	}
	slices.Sort(ports)
	if !slices.Equal(ports, []string{"17070", "9090"}) {
		t.Errorf("final stage EXPOSEs %v, want 17070 (API) and 9090 (metrics, probes)", ports)
	}
	dfArgs(final.Body, vars)
	labels := map[string]string{}
	for _, in := range got["LABEL"] {
		for _, m := range dfLabel.FindAllStringSubmatch(in.Args, -1) {
			labels[m[1]] = dfExpand(m[2], vars)
		}
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  vars["VERSION"],
		"org.opencontainers.image.revision": vars["REVISION"],
		"org.opencontainers.image.created":  vars["CREATED"],
		"org.opencontainers.image.title":    "jimm",
	} {
		if labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, labels[k], want)
		}
	}
	// What the final stage copies from the build stage.
	var copied []string
	for _, in := range got["COPY"] {
		f := strings.Fields(in.Args)
		if !slices.Contains(f, "--from="+build.Name) {
			t.Errorf("COPY %s (line %d) takes something other than the build stage's output", in.Args, in.Line)
			continue
		}
		var paths []string
		for _, a := range f {
			if !strings.HasPrefix(a, "--") {
				paths = append(paths, a)
			}
		}
		copied = append(copied, paths[:len(paths)-1]...)
	}

	// Run the build stage here: WORKDIR is the repository, its output
	// directory /out a temporary one.
	if build.Name == "" {
		t.Fatal("the build stage has no name for COPY --from")
	}
	out := t.TempDir()
	env := append(os.Environ(), "GOFLAGS=") // the stage's ENV sets its own
	for _, in := range build.Body {
		switch in.Cmd {
		case "ARG":
			dfArgs([]dfInstruction{in}, vars)
		case "ENV":
			for _, kv := range regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)`).FindAllStringSubmatch(in.Args, -1) {
				env = append(env, kv[1]+"="+strings.Trim(kv[2], `"`))
			}
		case "WORKDIR":
			if in.Args != "/src" {
				t.Fatalf("build stage WORKDIR %s: the test maps /src to the repository", in.Args)
			}
		case "RUN":
			script := strings.ReplaceAll(dfExpand(in.Args, vars), "/out/", out+"/")
			cmd := exec.Command("sh", "-ec", script)
			cmd.Dir, cmd.Env = root, env
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build stage RUN (line %d) failed: %v\n%s\n%s", in.Line, err, script, b)
			}
		}
	}
	for _, src := range copied {
		local := strings.Replace(src, "/out/", out+"/", 1)
		st, err := os.Stat(local)
		if err != nil {
			t.Errorf("the final stage copies %s, which the build stage did not make: %v", src, err)
			continue
		}
		if st.IsDir() {
			if st.Mode().Perm() != 0o700 {
				t.Errorf("%s has mode %v, want 0700 (the data directory)", src, st.Mode().Perm())
			}
			continue
		}
		f, err := elf.Open(local)
		if err != nil {
			t.Errorf("%s is not an ELF binary: %v", src, err)
			continue
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has an interpreter: it is not static and will not run on distroless/static", src)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s needs shared libraries %v", src, libs)
		}
		f.Close()
	}
	jimmd := filepath.Join(out, "usr/local/bin/jimmd")
	b, err := exec.Command(jimmd, "--version").CombinedOutput()
	want := fmt.Sprintf("jimmd %s (revision %s,", vars["VERSION"], vars["REVISION"])
	if err != nil || !strings.HasPrefix(string(b), want) {
		t.Errorf("jimmd --version from the build stage: %q (%v), want it to start %q", b, err, want)
	}
	if !slices.Contains(copied, "/out/usr/local/bin/jimmctl") || !slices.Contains(copied, "/out/usr/local/bin/jimmd") {
		t.Errorf("the final stage copies %v, want jimmd and jimmctl", copied)
	}
}
