package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

// Every eco command, eco ls included, first runs the init of every package linked into the
// binary: what one of them builds at init (a regexp, a table, a registry), all of them pay. The
// limits below are allocations, which are the same at every run, not timings. The binary is
// the test binary run as eco (ECO_TEST_MAIN), which links the same packages plus testing's.
const (
	// ownInitAllocs and ownInitBytes bound the init of each of eco's packages. Build such
	// things on first use instead (sync.OnceValue): before this test, ecosystem's init made
	// 3,263 allocations (247 KB) compiling regexps.
	ownInitAllocs = 300
	ownInitBytes  = 16 << 10
	// allInitAllocs bounds the inits of all linked packages together: about 7,700 with
	// eco's dependencies in December 2026 (11,400 before eco's own were made lazy). A new
	// dependency that does much at init (a registry, hundreds of regexps) passes it; see
	// whether the CLI can do without it, or raise the bound knowingly.
	allInitAllocs = 9000
)

// initCost is one line of GODEBUG=inittrace=1.
type initCost struct {
	pkg           string
	bytes, allocs int
}

// parseInitTrace reads "init PKG @T ms, C ms clock, B bytes, A allocs" lines.
func parseInitTrace(t *testing.T, trace []byte) []initCost {
	t.Helper()
	var out []initCost
	sc := bufio.NewScanner(bytes.NewReader(trace))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 11 || f[0] != "init" || f[8] != "bytes," || f[10] != "allocs" {
			continue
		}
		b, err1 := strconv.Atoi(f[7])
		a, err2 := strconv.Atoi(f[9])
		if err1 != nil || err2 != nil {
			t.Fatalf("unreadable inittrace line %q", sc.Text())
		}
		out = append(out, initCost{pkg: f[1], bytes: b, allocs: a})
	}
	return out
}

func TestCLI_InitCost(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "version")
	godebug := "inittrace=1"
	if old := os.Getenv("GODEBUG"); old != "" {
		godebug = old + "," + godebug
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") && !strings.HasPrefix(kv, "ECO_TEST_HELPER=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "ECO_TEST_MAIN=1", "GODEBUG="+godebug, "ECO_HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.HasPrefix(stdout.String(), "eco ") {
		t.Fatalf("eco version: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	costs := parseInitTrace(t, stderr.Bytes())
	total, own := 0, map[string]bool{}
	for _, c := range costs {
		total += c.allocs
		// The main package is left out: in the test binary it holds the tests' own variables.
		if !strings.HasPrefix(c.pkg, "github.com/eco-pm/eco/") || c.pkg == "github.com/eco-pm/eco/cmd/eco" {
			continue
		}
		own[c.pkg] = true
		if c.allocs > ownInitAllocs || c.bytes > ownInitBytes {
			t.Errorf("init of %s: %d allocations, %d bytes; want at most %d and %d: build it on first use (sync.OnceValue), not at init",
				c.pkg, c.allocs, c.bytes, ownInitAllocs, ownInitBytes)
		}
	}
	// The trace must have covered eco's packages, or the test proves nothing.
	for _, pkg := range []string{"github.com/eco-pm/eco/ecosystem", "github.com/eco-pm/eco/schema", "github.com/eco-pm/eco/runtime"} {
		if !own[pkg] {
			t.Fatalf("inittrace lacks %s (%d lines read):\n%s", pkg, len(costs), stderr.String())
		}
	}
	if total > allInitAllocs {
		t.Errorf("the inits of all %d linked packages make %d allocations; want at most %d", len(costs), total, allInitAllocs)
	}
	t.Logf("%d package inits, %d allocations", len(costs), total)
}

// TestRootFor_PlainLs checks the short tree of eco ls against the whole one: every command
// line it takes is one the whole tree runs as ls with the same flags, and the others (help, a
// flag ls does not have, a typo) go to the whole tree.
func TestRootFor_PlainLs(t *testing.T) {
	var out, errOut bytes.Buffer
	whole := newRootCmd(&out, &errOut)
	for _, args := range [][]string{{"ls"}, {"status"}, {"list"}, {"ls", "--json"}, {"list", "--json"}} {
		if !isPlainLs(args) {
			t.Errorf("isPlainLs(%q) = false, want true", args)
			continue
		}
		want, rest, err := whole.Find(args)
		if err != nil || want.Name() != "ls" {
			t.Fatalf("the whole tree finds %q as %v (%v), want ls", args, want, err)
		}
		got, grest, err := rootFor(args, &out, &errOut).Find(args)
		if err != nil || got.Name() != "ls" || len(grest) != len(rest) {
			t.Fatalf("the short tree finds %q as %v, rest %q (%v); the whole tree: ls, rest %q", args, got, grest, err, rest)
		}
		if err := want.ParseFlags(rest); err != nil {
			t.Errorf("the whole tree's ls refuses %q: %v", rest, err)
		}
		// Inherited too: a persistent flag on the whole tree's root would change what ls reads.
		gotFlags := got.Flags().FlagUsages() + got.InheritedFlags().FlagUsages()
		wantFlags := want.Flags().FlagUsages() + want.InheritedFlags().FlagUsages()
		if gotFlags != wantFlags || !slices.Equal(got.Aliases, want.Aliases) {
			t.Errorf("short tree's ls: aliases %q, flags:\n%s\nwhole tree's: aliases %q, flags:\n%s", got.Aliases, gotFlags, want.Aliases, wantFlags)
		}
	}
	for _, args := range [][]string{nil, {"ls", "-h"}, {"ls", "--help"}, {"ls", "--jsn"}, {"lss"}, {"ls", "extra"},
		{"--json", "ls"}, {"ls", "--json", "x"}, {"help", "ls"}, {"__complete", "ls", ""}, {"describe", "ls"}} {
		if isPlainLs(args) {
			t.Errorf("isPlainLs(%q) = true, want false", args)
		}
	}
}

// TestCLI_LsJSONIsTheDecodedAnswer proves that eco ls --json, which prints the daemon's answer
// indented instead of decoding and encoding it again, prints the same text as decoding it
// would: for a real daemon's answer about apps whose values need escaping (&, <, >, U+2028 in
// a watched file's name), with times (cron_restart), lists (watch) and instances.
func TestCLI_LsJSONIsTheDecodedAnswer(t *testing.T) {
	home := ecoHome(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "<x> & y\u2028é.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	hcl := `project = "rawjson"
app "a-and-b" {
  script       = "run.sh"
  instances    = 2
  cron_restart = "0 3 * * *"
  watch        = ["run.sh", "<x> & y\u2028é.txt"]
  min_uptime   = 100
}
app "plain" {
  script     = "run.sh"
  min_uptime = 100
}
`
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	var raw json.RawMessage
	if err := control.NewClient(home).Do(context.Background(), "GET", "/v1/apps", nil, &raw); err != nil {
		t.Fatal(err)
	}
	var apps []runtime.AppStatus
	if err := json.Unmarshal(raw, &apps); err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 || len(apps[0].Instances)+len(apps[1].Instances) != 3 {
		t.Fatalf("answer: %s", raw)
	}
	var want, got bytes.Buffer
	if err := writeJSON(&want, apps); err != nil {
		t.Fatal(err)
	}
	if err := writeRawJSON(&got, raw); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("eco ls --json would print:\n%s\ndecoding and encoding the same answer prints:\n%s", got.String(), want.String())
	}
	for _, s := range []string{`\u003cx\u003e \u0026 y`, `\u2028`, `"next_cron_restart"`, `"watching"`} {
		if !strings.Contains(got.String(), s) {
			t.Errorf("the answer lacks %s, so the test does not cover it:\n%s", s, got.String())
		}
	}
	// And eco ls --json itself prints such an answer.
	out, errOut, code := runEco(t, "ls", "--json")
	var listed []runtime.AppStatus
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil || len(listed) != 2 || !strings.HasPrefix(out, "[\n  {\n    \"name\"") {
		t.Fatalf("eco ls --json: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
}
