package ecosystem_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/eco-pm/eco/ecosystem"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/valid")

// testCPUs is the CPU count every test decodes with, so "max" is stable.
const testCPUs = 4

// testEnv is the environment every test decodes with.
var testEnv = map[string]string{
	"HOME":            "/home/eco",
	"DEPLOY_USER":     "deploy",
	"ECO_VAR_workers": "3",
}

// caseOptions reads "# options: --env P --var k=v ..." from the first lines of a case.
func caseOptions(t *testing.T, path string) ecosystem.Options {
	t.Helper()
	opts := ecosystem.Options{
		CPUs:      testCPUs,
		Vars:      map[string]string{},
		LookupEnv: func(k string) (string, bool) { v, ok := testEnv[k]; return v, ok },
		ReadFile:  os.ReadFile,
	}
	files, err := ecosystem.Files(path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(src), "\n") {
		rest, ok := strings.CutPrefix(line, "# options:")
		if !ok {
			continue
		}
		words := strings.Fields(rest)
		for i := 0; i+1 < len(words); i += 2 {
			switch words[i] {
			case "--env":
				opts.Profile = words[i+1]
			case "--var":
				k, v, _ := strings.Cut(words[i+1], "=")
				opts.Vars[k] = v
			default:
				t.Fatalf("%s: unknown option %s", path, words[i])
			}
		}
	}
	return opts
}

// cases lists the .hcl files and the folders in dir, each one case.
func cases(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".hcl") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) == 0 {
		t.Fatalf("no cases in %s", dir)
	}
	return out
}

// load parses and decodes a case without Load's checks of the filesystem, whose warnings depend
// on files the cases do not need.
func load(t *testing.T, path string) (*ecosystem.Config, hcl.Diagnostics) {
	t.Helper()
	p, diags := ecosystem.Parse(path)
	if diags.HasErrors() {
		return nil, diags
	}
	cfg, more := ecosystem.Decode(p, caseOptions(t, path))
	return cfg, append(diags, more...)
}

func TestDecode_Valid(t *testing.T) {
	for _, path := range cases(t, filepath.Join("testdata", "valid")) {
		name := strings.TrimSuffix(filepath.Base(path), ".hcl")
		t.Run(name, func(t *testing.T) {
			cfg, diags := load(t, path)
			for _, d := range diags {
				t.Errorf("unexpected diagnostic: %s", d)
			}
			if cfg == nil {
				t.Fatal("no config")
			}
			got, err := json.MarshalIndent(cfg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			// Absolute paths differ from one checkout to another.
			abs, _ := filepath.Abs(filepath.Join("testdata", "valid"))
			got = bytes.ReplaceAll(got, []byte(abs), []byte("$TESTDATA"))
			got = append(got, '\n')
			golden := filepath.Join("testdata", "valid", name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./ecosystem -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("config differs from %s (-want +got; go test ./ecosystem -update refreshes it):\n%s", golden, diff)
			}
		})
	}
}

// wantRE finds the expected diagnostics written into invalid cases: a comment
// "# error: Summary" or "# warning: Summary" on the line the diagnostic points at, or
// "# error@none: Summary" for one with no position. Several are separated by " | ".
var wantRE = regexp.MustCompile(`^(error|warning)(@none)?:\s*(.+)$`)

func expectedDiags(t *testing.T, path string) []string {
	t.Helper()
	files, err := ecosystem.Files(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			_, comment, ok := strings.Cut(sc.Text(), "# ")
			if !ok {
				continue
			}
			for _, part := range strings.Split(comment, " | ") {
				m := wantRE.FindStringSubmatch(strings.TrimSpace(part))
				if m == nil {
					continue
				}
				where := fmt.Sprintf("%s:%d", file, line)
				if m[2] != "" {
					where = "-"
				}
				want = append(want, fmt.Sprintf("%s %s: %s", where, m[1], strings.TrimSpace(m[3])))
			}
		}
		f.Close()
	}
	sort.Strings(want)
	return want
}

func describeDiags(diags hcl.Diagnostics) []string {
	var got []string
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		where := "-"
		if d.Subject != nil {
			where = fmt.Sprintf("%s:%d", d.Subject.Filename, d.Subject.Start.Line)
		}
		got = append(got, fmt.Sprintf("%s %s: %s", where, sev, d.Summary))
	}
	sort.Strings(got)
	return got
}

func TestDecode_Invalid(t *testing.T) {
	for _, path := range cases(t, filepath.Join("testdata", "invalid")) {
		name := strings.TrimSuffix(filepath.Base(path), ".hcl")
		t.Run(name, func(t *testing.T) {
			want := expectedDiags(t, path)
			if len(want) == 0 {
				t.Fatalf("%s declares no expected diagnostic", path)
			}
			cfg, diags := load(t, path)
			if cfg != nil {
				t.Errorf("got a config despite errors")
			}
			got := describeDiags(diags)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s\nall diagnostics:\n%s", diff, diags)
			}
			for _, d := range diags {
				if d.Detail == "" {
					t.Errorf("diagnostic %q has no detail", d.Summary)
				}
			}
		})
	}
}
