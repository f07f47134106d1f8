package export

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/ecosystem"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/golden")

// load decodes the configuration at path as eco apply would, with 4 CPUs and an environment
// of HOME only, so that the result does not depend on the machine.
func load(t *testing.T, path, profile string) *ecosystem.Config {
	t.Helper()
	p, diags := ecosystem.Parse(path)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", path, diags)
	}
	cfg, diags := ecosystem.Decode(p, ecosystem.Options{
		Profile: profile, CPUs: 4, Vars: map[string]string{},
		LookupEnv: func(k string) (string, bool) {
			if k == "HOME" {
				return "/home/eco", true
			}
			return "", false
		},
	})
	if cfg == nil {
		t.Fatalf("%s: %s", path, diags)
	}
	return cfg
}

// engines are the exports by name.
var engines = []struct {
	name string
	run  func(*ecosystem.Config, Options) (*Result, error)
}{
	{"kubernetes", Kubernetes},
	{"nomad", Nomad},
	{"systemd", Systemd},
}

// goldenCases are the configurations with golden files: the example, and a file that sets
// every attribute (with the staging profile selected).
var goldenCases = []struct {
	name, path, profile string
}{
	{"examples", filepath.Join("..", "examples", "ecosystem.hcl"), ""},
	{"every", filepath.Join("testdata", "every.hcl"), "staging"},
}

// TestExport_Golden compares each export's output and report with testdata/golden; the
// configuration's folder is written $DIR there. go test ./export -update rewrites them.
func TestExport_Golden(t *testing.T) {
	for _, c := range goldenCases {
		for _, e := range engines {
			t.Run(c.name+"/"+e.name, func(t *testing.T) {
				cfg := load(t, c.path, c.profile)
				res, err := e.run(cfg, Options{})
				if err != nil {
					t.Fatal(err)
				}
				var report strings.Builder
				for _, n := range res.Notes {
					report.WriteString(n.String() + "\n")
				}
				dir := filepath.Join("testdata", "golden")
				base := filepath.Join(dir, c.name+"."+e.name)
				ext := map[string]string{"kubernetes": ".yaml", "nomad": ".json", "systemd": ".units"}[e.name]
				golden(t, base+ext, bytes.ReplaceAll(res.Stream(), []byte(cfg.Dir), []byte("$DIR")))
				golden(t, base+".report", []byte(report.String()))
			})
		}
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./export -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; go test ./export -update refreshes it):\n%s", path, diff)
	}
}

// TestResult_Stream: on stdout, Kubernetes objects are YAML documents separated by ---, and
// each unit comes under a comment naming its file.
func TestResult_Stream(t *testing.T) {
	cfg := load(t, goldenCases[0].path, "")
	k, err := Kubernetes(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := bytes.Count(k.Stream(), []byte("\n---\n")), len(k.Files)-1; got != want || bytes.HasPrefix(k.Stream(), []byte("---")) {
		t.Errorf("%d separators for %d documents, or one before the first:\n%s", got, len(k.Files), k.Stream())
	}
	s, err := Systemd(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range s.Files {
		if !bytes.Contains(s.Stream(), []byte("# ==> "+f.Name+" <==\n"+string(f.Data))) {
			t.Errorf("stream lacks %s under its name", f.Name)
		}
	}
}

// TestOptions_Root: --root moves the configuration's folder inside the image; paths outside
// it stay; a relative root is refused.
func TestOptions_Root(t *testing.T) {
	cfg := load(t, goldenCases[1].path, "")
	res, err := Kubernetes(cfg, Options{Root: "/srv/every/"})
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.Stream())
	for _, want := range []string{"- /srv/every/api/server.mjs\n", "workingDir: /srv/every/api\n", "- /opt/run.sh\n", "workingDir: /srv/every\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, run := range []func(*ecosystem.Config, Options) (*Result, error){Kubernetes, Nomad} {
		if _, err := run(cfg, Options{Root: "srv"}); err == nil || !strings.Contains(err.Error(), "absolute") {
			t.Errorf("relative root: err = %v", err)
		}
	}
}

// TestKubeEscape: what Kubernetes would expand ("$(NAME)", "$$") is escaped; other dollars
// stay as they are, since Kubernetes leaves them alone.
func TestKubeEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain":        "plain",
		"$HOME":        "$HOME",
		"$(HOME)":      "$$(HOME)",
		"a$$b":         "a$$$b",
		"cost: 5$":     "cost: 5$",
		"$($(X))":      "$$($$(X))",
		"${BRACES}":    "${BRACES}",
		"$$(ESCAPED)$": "$$$$(ESCAPED)$",
	} {
		if got := kubeEscape(in); got != want {
			t.Errorf("kubeEscape(%q) = %q, want %q", in, got, want)
		}
	}
}
