package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCLI_EcoInsideAnApp: eco run by an app talks to the daemon that runs the app (ECO_HOME
// reaches apps), not to one of its own in ~/.eco.
func TestCLI_EcoInsideAnApp(t *testing.T) {
	home := ecoHome(t)
	dir := t.TempDir()
	fakeHome := t.TempDir() // where a second daemon would go, were ECO_HOME not passed
	t.Cleanup(func() {
		cmd := exec.Command(os.Args[0], "kill")
		cmd.Env = append(os.Environ(), "ECO_HOME="+filepath.Join(fakeHome, ".eco"))
		_ = cmd.Run()
	})
	script := filepath.Join(dir, "inner.sh")
	src := "#!/bin/sh\n\"$ECO_BIN\" ls --json > \"$OUT/inner.json\" 2> \"$OUT/inner.err\"\necho done > \"$OUT/inner.done\"\n" +
		"trap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n"
	if err := os.WriteFile(script, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	hcl := `project = "inner"
app "inner" {
  script = "inner.sh"
  min_uptime = 100
  env = { ECO_BIN = "` + os.Args[0] + `", ECO_TEST_MAIN = "1", OUT = "` + dir + `", HOME = "` + fakeHome + `" }
}
`
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	waitFor(t, "the app's eco ls", func() bool {
		_, err := os.Stat(filepath.Join(dir, "inner.done"))
		return err == nil
	})
	b, _ := os.ReadFile(filepath.Join(dir, "inner.json"))
	var apps []struct{ Name string }
	if err := json.Unmarshal(b, &apps); err != nil || len(apps) != 1 || apps[0].Name != "inner" {
		errOut, _ := os.ReadFile(filepath.Join(dir, "inner.err"))
		t.Fatalf("eco ls inside the app printed %q (%v); stderr %q", b, err, errOut)
	}
	if _, err := os.Stat(filepath.Join(fakeHome, ".eco")); err == nil {
		t.Errorf("eco inside the app made a home of its own in %s", fakeHome)
	}
	_ = home
}

// TestCLI_SendInstance: eco send --instance N reaches one instance; what the instances send
// back shows in eco logs as their messages, next to eco's lifecycle lines.
func TestCLI_SendInstance(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	ecoHome(t)
	dir := t.TempDir()
	src := `process.on('message', (m) => { console.log('got ' + JSON.stringify(m)); process.send({ ack: m, i: process.env.NODE_APP_INSTANCE }); });
console.log('up');
`
	if err := os.WriteFile(filepath.Join(dir, "app.js"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	hcl := `project = "send"
app "talk" {
  script      = "app.js"
  interpreter = "` + node + `"
  instances   = 2
  min_uptime  = 100
}
`
	file := filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code := runEco(t, "send", "talk", "--instance", "1", `{"n": 7}`)
	if code != 0 || strings.TrimSpace(out) != "sent to talk[1]" {
		t.Fatalf("send --instance 1: exit %d\n%s\n%s", code, out, errOut)
	}
	var logs string
	waitFor(t, "the ack in eco logs", func() bool {
		logs, _, _ = runEco(t, "logs", "talk", "--lines", "50")
		return strings.Contains(logs, `{"ack":{"n":7},"i":"1"}`)
	})
	for _, re := range []string{
		`(?m)^talk\[1\] message \| \{"ack":\{"n":7\},"i":"1"\}$`,
		`(?m)^talk\[1\] out\s+\| got \{"n":7\}$`,
		`(?m)^talk\[0\] eco\s+\| started \(pid \d+\)$`,
		`(?m)^talk\[1\] eco\s+\| online \(up 100ms, no wait_ready\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(logs) {
			t.Errorf("eco logs lacks %s:\n%s", re, logs)
		}
	}
	if strings.Contains(logs, "talk[0] out     | got") || strings.Contains(logs, `"i":"0"`) {
		t.Errorf("instance 0 got the message:\n%s", logs)
	}
	if out, _, _ := runEco(t, "logs", "talk", "--out", "--lines", "50"); strings.Contains(out, "eco ") || strings.Contains(out, "message ") {
		t.Errorf("--out shows eco's lines:\n%s", out)
	}
	if _, errOut, code := runEco(t, "send", "talk", "--instance", "5", `1`); code == 0 || !strings.Contains(errOut, "talk has no instance 5 (it has 0 to 1)") {
		t.Errorf("send --instance 5: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runEco(t, "send", "talk", "--instance", "-1", `1`); code == 0 || !strings.Contains(errOut, "numbered from 0") {
		t.Errorf("send --instance -1: exit %d, %s", code, errOut)
	}
}
