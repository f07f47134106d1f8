package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eco-pm/eco/startup"
)

// fakeSystemctl puts a systemctl first on PATH that records its arguments, one call a line,
// in the returned file, and fails when called with the arguments in ECO_TEST_SYSTEMCTL_FAIL.
func fakeSystemctl(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho \"$*\" >> '" + calls + "'\nif [ \"$*\" = \"$ECO_TEST_SYSTEMCTL_FAIL\" ]; then echo \"Failed to $*: no bus\" >&2; exit 1; fi\n"
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return calls
}

// TestCLI_StartupUser: eco startup --user writes the unit where systemd reads user units,
// reloads, enables and starts it, and says how to undo it; eco unstartup --user undoes it.
func TestCLI_StartupUser(t *testing.T) {
	home := ecoHome(t)
	calls := fakeSystemctl(t)
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	unit := filepath.Join(config, "systemd", "user", "eco.service")

	out, errOut, code := runEco(t, "startup", "--user")
	if code != 0 {
		t.Fatalf("startup --user: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"  wrote " + unit + "\n", "  ran systemctl --user daemon-reload\n", "  ran systemctl --user enable eco.service\n",
		"  ran systemctl --user start eco.service\n", "The eco daemon for " + home + " now starts at boot (eco.service)", "Undo: eco unstartup --user\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got := readFile(t, calls); got != "--user daemon-reload\n--user enable eco.service\n--user start eco.service\n" {
		t.Errorf("systemctl calls:\n%s", got)
	}
	text := readFile(t, unit)
	exe, _ := os.Executable()
	for _, want := range []string{startup.Marker, "\nEnvironment=ECO_HOME=" + home + "\n", "\nExecStart=" + exe + " daemon --foreground\n", "\nEnvironment=PATH="} {
		if !strings.Contains(text, want) {
			t.Errorf("unit lacks %q:\n%s", want, text)
		}
	}
	printed, _, code := runEco(t, "startup", "--user", "--print")
	if code != 0 || printed != text {
		t.Errorf("--print (exit %d) differs from the unit written:\n%s", code, printed)
	}

	// With a daemon serving the home, the unit is enabled, not started, and eco says so.
	if _, errOut, code := runEco(t, "daemon"); code != 0 {
		t.Fatal(errOut)
	}
	os.Remove(calls)
	out, _, code = runEco(t, "startup", "--user")
	if code != 0 || !strings.Contains(out, "left "+unit+" as it was") || !strings.Contains(out, "the unit takes over at the next boot") {
		t.Errorf("startup with a daemon running: exit %d\n%s", code, out)
	}
	if got := readFile(t, calls); got != "--user daemon-reload\n--user enable eco.service\n" {
		t.Errorf("systemctl calls with a daemon running:\n%s", got)
	}

	os.Remove(calls)
	out, errOut, code = runEco(t, "unstartup", "--user")
	if code != 0 || !strings.Contains(out, "  removed "+unit+"\n") || !strings.Contains(out, "no longer starts at boot") {
		t.Errorf("unstartup: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := readFile(t, calls); got != "--user disable eco.service\n--user daemon-reload\n" {
		t.Errorf("systemctl calls of unstartup:\n%s", got)
	}
	if _, err := os.Stat(unit); !os.IsNotExist(err) {
		t.Errorf("the unit is still there: %v", err)
	}
	if out, _, code = runEco(t, "unstartup", "--user"); code != 0 || !strings.Contains(out, "Nothing to undo") {
		t.Errorf("second unstartup: exit %d\n%s", code, out)
	}

	// A failing systemctl: the error, what was done, and how to undo it.
	t.Setenv("ECO_TEST_SYSTEMCTL_FAIL", "--user enable eco.service")
	out, errOut, code = runEco(t, "startup", "--user")
	if code == 0 || !strings.Contains(out, "  wrote "+unit) || !strings.Contains(errOut, "Failed to --user enable eco.service: no bus") ||
		!strings.Contains(errOut, "Undo what was done with: eco unstartup --user") {
		t.Errorf("startup with a failing systemctl: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestCLI_StartupPrintVerifies: the system unit eco startup --print prints passes
// systemd-analyze verify.
func TestCLI_StartupPrintVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze: cannot verify the unit")
	}
	home := ecoHome(t)
	out, errOut, code := runEco(t, "startup", "--print")
	if code != 0 || !strings.HasPrefix(out, startup.Marker) || !strings.Contains(out, "ECO_HOME="+home) {
		t.Fatalf("startup --print: exit %d\n%s\n%s", code, out, errOut)
	}
	path := filepath.Join(t.TempDir(), "eco-test.service")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if v, err := exec.Command(sa, "verify", path).CombinedOutput(); err != nil || len(v) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s\n%s", err, v, out)
	}
}
