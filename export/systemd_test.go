package export

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// verifyUnits writes files into a fresh folder and runs systemd-analyze verify on the
// target, the sockets and instance @0 of every template. Any message fails, warnings too.
func verifyUnits(t *testing.T, files []File) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed here: the units are not verified")
	}
	dir := t.TempDir()
	var units []string
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		name := f.Name
		if strings.HasSuffix(name, "@.service") {
			name = strings.TrimSuffix(name, "@.service") + "@0.service"
		}
		units = append(units, filepath.Join(dir, name))
	}
	out, err := exec.Command(bin, append([]string{"verify", "--man=no"}, units...)...).CombinedOutput()
	return string(out), err
}

// writeApp writes an executable shell script into dir.
func writeApp(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\nexec sleep 1000\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestSystemd_Verify: systemd-analyze verify accepts the units of the example and of a file
// whose programs exist and whose values need escaping (quotes, %, $, spaces, newlines).
func TestSystemd_Verify(t *testing.T) {
	t.Run("examples", func(t *testing.T) {
		for _, prog := range []string{"node", "bash"} {
			if _, err := exec.LookPath(prog); err != nil {
				t.Skipf("%s is not installed: systemd would not find the example's interpreter", prog)
			}
		}
		res, err := Systemd(load(t, goldenCases[0].path, ""), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := verifyUnits(t, res.Files); err != nil || out != "" {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
	t.Run("escapes", func(t *testing.T) {
		dir := t.TempDir()
		writeApp(t, dir, "serve.sh")
		writeApp(t, dir, "bin dir/run 100%")
		src := `project = "verify"
app "web" {
  script             = "serve.sh"
  interpreter        = "/bin/sh"
  args               = ["two words", "say \"hi\"", "100%", "$HOME", "a\\b", ";"]
  instances          = 2
  exec_mode          = "cluster"
  port               = 18080
  balance            = "kernel"
  wait_ready         = true
  kill_timeout       = 2500
  stop_signal        = "SIGTERM"
  max_memory_restart = "64M"
  stop_exit_codes    = [0, 3]
  restart_delay      = "1.5s"
  env                = { A = "x y", B = "say \"hi\"", C = "100%", D = "$HOME", E = "line\nbreak", F = "back\\slash", "MY-VAR" = "left out" }
  out_file           = "logs dir/100%/web.log"
  error_file         = "null"
}
app "job" {
  command     = ["./bin dir/run 100%", "--flag"]
  autorestart = false
  merge_logs  = true
  out_file    = "logs/job.log"
  error_file  = "logs/job.err"
}
`
		path := filepath.Join(dir, "ecosystem.hcl")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := Systemd(load(t, path, ""), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := verifyUnits(t, res.Files); err != nil || out != "" {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
	t.Run("refuses a missing program", func(t *testing.T) {
		// The check is not vacuous: a unit whose program does not exist fails it.
		files := []File{{Name: "broken@.service", Data: []byte("[Service]\nExecStart=/nonexistent/program\n")}}
		if out, err := verifyUnits(t, files); err == nil && out == "" {
			t.Error("systemd-analyze verify accepted a unit whose program does not exist")
		}
	})
}

// TestSystemd_ZeroTimeouts: kill_timeout = 0 is "SIGKILL at once" in eco, but 0 means "wait
// for ever" to systemd; the unit gets the shortest span instead.
func TestSystemd_ZeroTimeouts(t *testing.T) {
	res := exportSource(t, "systemd", "app \"web\" {\n  command = [\"/bin/sh\"]\n  kill_timeout = 0\n  wait_ready = true\n  listen_timeout = 0\n}\n")
	unit := string(res.Files[0].Data)
	for _, want := range []string{"\nTimeoutStopSec=1us\n", "\nTimeoutStartSec=1us\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", strings.TrimSpace(want), unit)
		}
	}
	if out, err := verifyUnits(t, res.Files); err != nil || out != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
