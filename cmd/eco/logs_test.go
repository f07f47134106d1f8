package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/internal/testwait"
)

// TestCLI_Logs runs eco logs as a user would against apps of a real daemon: the tail with
// prefixes, --raw, --err, --grep, --since, --json, and -f showing new lines.
func TestCLI_Logs(t *testing.T) {
	ecoHome(t)
	dir := t.TempDir()
	// stamped prints 200 numbered lines and one to stderr, then a line every 20ms.
	script := filepath.Join(dir, "talk.sh")
	src := "#!/bin/sh\ni=0\nwhile [ $i -lt 200 ]; do echo \"line $i\"; i=$((i+1)); done\necho oops >&2\n" +
		"trap 'exit 0' INT TERM\nwhile :; do echo \"tick $i\"; i=$((i+1)); sleep 0.02; done\n"
	if err := os.WriteFile(script, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	hcl := `project = "logs"
app "stamped" {
  script = "talk.sh"
  log_date_format = "YYYY-MM-DD HH:mm:ss.SSS"
  min_uptime = 100
}
app "plain" {
  script = "talk.sh"
  min_uptime = 100
}
`
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	// Wait until the first 200 lines and the error are in the files.
	waitFor(t, "the apps' first lines", func() bool {
		out, _, _ := runEco(t, "logs", "stamped", "--err", "--raw")
		return strings.Contains(out, "oops")
	})

	out, errOut, code := runEco(t, "logs", "stamped", "--out", "--lines", "3")
	if code != 0 {
		t.Fatalf("logs: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	prefixed := regexp.MustCompile(`^stamped\[0\] out \| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}: (line|tick) \d+$`)
	if len(lines) != 3 {
		t.Fatalf("--lines 3 printed %d lines:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if !prefixed.MatchString(l) {
			t.Errorf("line %q lacks the app prefix or the time", l)
		}
	}

	out, _, _ = runEco(t, "logs", "stamped", "--grep", `^line 1[0-4]$`, "--raw", "--lines", "100")
	if got, want := out, "line 10\nline 11\nline 12\nline 13\nline 14\n"; !strings.Contains(got, want) || strings.Count(got, "\n") != 5 {
		t.Errorf("--grep --raw printed:\n%s\nwant exactly:\n%s", got, want)
	}

	out, _, _ = runEco(t, "logs", "stamped", "--since", "1h", "--raw", "--out", "--lines", "1000")
	if !strings.Contains(out, "line 0\n") {
		t.Errorf("--since 1h lacks the first line:\n%.300s", out)
	}
	future := time.Now().Add(time.Hour).Format("2006-01-02 15:04:05")
	out, _, _ = runEco(t, "logs", "stamped", "--since", future, "--lines", "1000")
	if out != "" {
		t.Errorf("--since in the future printed lines:\n%.300s", out)
	}
	_, errOut, code = runEco(t, "logs", "plain", "--since", "10m")
	if code == 0 || !strings.Contains(errOut, "log_date_format") {
		t.Errorf("--since on an app without times: exit %d, %q; want an error naming log_date_format", code, errOut)
	}

	out, _, _ = runEco(t, "logs", "plain", "--err", "--json")
	var e struct {
		App      string `json:"app"`
		Instance int    `json:"instance"`
		Stream   string `json:"stream"`
		Message  string `json:"message"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &e); err != nil || e.App != "plain" || e.Stream != "err" || e.Message != "oops" {
		t.Errorf("--json printed %q (%v), want the oops line of plain's err", out, err)
	}

	// -f prints the last lines, then new ones as they come.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		var errOut strings.Builder
		err := run(ctx, []string{"logs", "plain", "-f", "--raw", "--out", "--lines", "1"}, pw, &errOut)
		pw.Close()
		done <- exitCode(err, &errOut)
	}()
	sc := bufio.NewScanner(pr)
	seen := map[string]bool{}
	deadline := time.AfterFunc(30*time.Second, cancel)
	defer deadline.Stop()
	for len(seen) < 5 && sc.Scan() {
		seen[sc.Text()] = true
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if len(seen) < 5 {
		t.Fatalf("eco logs -f printed only %d distinct lines before it ended: %v", len(seen), seen)
	}
	for l := range seen {
		if !strings.HasPrefix(l, "tick ") {
			t.Errorf("eco logs -f printed %q, want tick lines", l)
		}
	}
	<-done
}

// TestCLI_LogsOfDeletedApp reads the last lines of a large file of an app the daemon no
// longer runs, with no daemon at all.
func TestCLI_LogsOfDeletedApp(t *testing.T) {
	home := ecoHome(t)
	dir := filepath.Join(home, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "gone-out-0.log"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range 500000 { // ~10 MB
		fmt.Fprintf(w, "old line %d of a big file\n", i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, errOut, code := runEco(t, "logs", "gone", "--lines", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "gone[0] out | old line 499998 of a big file\ngone[0] out | old line 499999 of a big file\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	if _, errOut, code := runEco(t, "logs", "gone", "--lines", "-3"); code == 0 || !strings.Contains(errOut, "--lines -3") {
		t.Errorf("--lines -3: exit %d, %q; want an error naming the flag", code, errOut)
	}
	if _, errOut, code := runEco(t, "logs", "never"); code == 0 || !strings.Contains(errOut, `"never"`) {
		t.Errorf("logs of an unknown app: exit %d, %q", code, errOut)
	}
}

// waitFor polls cond until it holds, failing the test after 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, what, 30*time.Second, cond)
}

// TestCLI_LogsShowsConfigErrors: after a save that does not check, eco logs says so on stderr,
// with the position, while the app runs its last good configuration.
func TestCLI_LogsShowsConfigErrors(t *testing.T) {
	ecoHome(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.sh"), []byte("#!/bin/sh\necho up\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	good := "project = \"cfg\"\napp \"w\" {\n  script = \"w.sh\"\n  min_uptime = 100\n}\n"
	if err := os.WriteFile(file, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	bad := "project = \"cfg\"\napp \"w\" {\n  script = \"w.sh\"\n  instancs = 2\n}\n"
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bad save to be seen", func() bool {
		out, _, _ := runEco(t, "ls")
		return strings.Contains(out, "has errors")
	})
	_, errOut, code := runEco(t, "logs", "w", "--lines", "1")
	if code != 0 || !strings.Contains(errOut, "was not applied") || !strings.Contains(errOut, "ecosystem.hcl line 4") {
		t.Errorf("eco logs: exit %d, stderr:\n%s\nwant the errors of the last save with their position", code, errOut)
	}
}
