package startup

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func options(t *testing.T, userUnit bool) Options {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return Options{User: userUnit, Exe: exe, Home: "/home/" + u.Username + "/.eco", Path: "/usr/local/bin:/usr/bin:/bin", RunAs: u.Username, Version: "test"}
}

// verify runs systemd-analyze verify on the unit text and fails on anything it says: it
// exits 0 for settings it ignores, so its output is the verdict.
func verify(t *testing.T, o Options) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze: cannot verify the unit")
	}
	text, err := Unit(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, o.Name())
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"verify", path}
	cmd := exec.Command(sa, args...)
	if o.User {
		rt := filepath.Join(dir, "rt")
		if err := os.Mkdir(rt, 0o700); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(sa, append([]string{"--user"}, args...)...)
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt)
	}
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze %s: %v\n%s\nunit:\n%s", strings.Join(cmd.Args[1:], " "), err, out, text)
	}
}

func TestUnit_Verify(t *testing.T) {
	for _, userUnit := range []bool{false, true} {
		t.Run(map[bool]string{false: "system", true: "user"}[userUnit], func(t *testing.T) {
			o := options(t, userUnit)
			verify(t, o)
			// A path with a space, a percent sign and a dollar, which systemd would read as
			// two words, a specifier and a variable unless escaped.
			odd := filepath.Join(t.TempDir(), "my eco 100%$HOME")
			if err := os.Mkdir(odd, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(o.Exe, filepath.Join(odd, "eco")); err != nil {
				t.Fatal(err)
			}
			o.Exe, o.Home, o.Path = filepath.Join(odd, "eco"), filepath.Join(odd, ".eco"), odd+":/usr/bin"
			verify(t, o)
		})
	}
}

func TestUnit_Contents(t *testing.T) {
	o := Options{Exe: "/opt/my eco/eco", Home: "/srv/100%/.eco", Path: "/usr/bin", RunAs: "alice", Version: "v1"}
	text, err := Unit(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		Marker + " v1; remove it with: eco unstartup\n",
		"\nUser=alice\n",
		"\nEnvironment=ECO_HOME=/srv/100%%/.eco\n",
		"\nEnvironment=PATH=/usr/bin\n",
		"\nExecStart=\"/opt/my eco/eco\" daemon --foreground\n",
		"\nRestart=on-failure\n", "\nKillMode=mixed\n", "\nDelegate=yes\n",
		"\nWantedBy=multi-user.target\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("unit lacks %q:\n%s", want, text)
		}
	}
	if o.Name() != "eco-alice.service" {
		t.Errorf("name %q", o.Name())
	}
	o.User = true
	if text, _ := Unit(o); strings.Contains(text, "User=") || !strings.Contains(text, "WantedBy=default.target") || o.Name() != "eco.service" {
		t.Errorf("user unit %s:\n%s", o.Name(), text)
	}

	bad := []Options{
		{Exe: "eco", Home: "/h", RunAs: "a"},
		{Exe: "/e", Home: "h", RunAs: "a"},
		{Exe: "/e", Home: "/h"},
		{Exe: "/e", Home: "/h", RunAs: "a b"},
		{Exe: "/e", Home: "/h\nExecStartPre=/bin/evil", RunAs: "a"},
	}
	for _, o := range bad {
		if text, err := Unit(o); err == nil {
			t.Errorf("Unit(%+v) = nil error:\n%s", o, text)
		}
	}
}

// recorder is a Systemctl that records its calls and fails the one named in fail.
type recorder struct {
	calls []string
	fail  string
}

func (r *recorder) run(_ context.Context, args ...string) error {
	call := strings.Join(args, " ")
	r.calls = append(r.calls, call)
	if call == r.fail {
		return errors.New("exit status 1: Failed to " + call)
	}
	return nil
}

func TestInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "systemd", "user")
	o := options(t, true)
	want, _ := Unit(o)
	path := filepath.Join(dir, "eco.service")

	rec := &recorder{}
	r, err := Install(t.Context(), o, dir, rec.run, true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"--user daemon-reload", "--user enable eco.service", "--user start eco.service"}, rec.calls); diff != "" {
		t.Errorf("systemctl calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"wrote " + path, "ran systemctl --user daemon-reload", "ran systemctl --user enable eco.service",
		"ran systemctl --user start eco.service"}, r.Done); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != want {
		t.Errorf("unit file (%v):\n%s", err, got)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("unit file mode: %v %v", fi.Mode(), err)
	}

	// Again, with a daemon running outside systemd: nothing rewritten, not started.
	rec = &recorder{}
	r, err = Install(t.Context(), o, dir, rec.run, false)
	if err != nil || r.Done[0] != "left "+path+" as it was (the same unit)" || len(rec.calls) != 2 {
		t.Errorf("second install: %v %q %q", err, r.Done, rec.calls)
	}
	// A new eco path rewrites eco's own unit.
	o2 := o
	o2.Path = "/other/bin"
	if r, err := Install(t.Context(), o2, dir, (&recorder{}).run, false); err != nil || r.Done[0] != "rewrote "+path {
		t.Errorf("install with new settings: %v %q", err, r.Done)
	}

	// A failing systemctl is reported with what was done before.
	rec = &recorder{fail: "--user enable eco.service"}
	r, err = Install(t.Context(), o, dir, rec.run, true)
	if err == nil || !strings.Contains(err.Error(), "Failed to --user enable") || len(r.Done) != 2 {
		t.Errorf("failing enable: %v, done %q", err, r.Done)
	}

	// Uninstall disables and removes it, and does not stop it.
	rec = &recorder{}
	r, err = Uninstall(t.Context(), true, "eco.service", dir, rec.run)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"--user disable eco.service", "--user daemon-reload"}, rec.calls); diff != "" {
		t.Errorf("uninstall calls (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) || len(r.Done) != 3 {
		t.Errorf("after uninstall: %v, done %q", err, r.Done)
	}
	if _, err := Uninstall(t.Context(), true, "eco.service", dir, rec.run); !errors.Is(err, ErrNoUnit) {
		t.Errorf("second uninstall: %v", err)
	}

	// Files eco did not write are never replaced nor removed.
	if err := os.WriteFile(path, []byte("[Unit]\nDescription=mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec = &recorder{}
	if _, err := Install(t.Context(), o, dir, rec.run, true); err == nil || !strings.Contains(err.Error(), "eco did not write it") || len(rec.calls) != 0 {
		t.Errorf("install over a foreign unit: %v %q", err, rec.calls)
	}
	if _, err := Uninstall(t.Context(), true, "eco.service", dir, rec.run); err == nil || len(rec.calls) != 0 {
		t.Errorf("uninstall of a foreign unit: %v %q", err, rec.calls)
	}
	if got, _ := os.ReadFile(path); string(got) != "[Unit]\nDescription=mine\n" {
		t.Errorf("the foreign unit changed: %q", got)
	}
}

func TestDir(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if d := Dir(false, getenv, "/home/a"); d != "/etc/systemd/system" {
		t.Errorf("system dir %q", d)
	}
	if d := Dir(true, getenv, "/home/a"); d != "/home/a/.config/systemd/user" {
		t.Errorf("user dir %q", d)
	}
	env["XDG_CONFIG_HOME"] = "/x"
	if d := Dir(true, getenv, "/home/a"); d != "/x/systemd/user" {
		t.Errorf("user dir with XDG_CONFIG_HOME %q", d)
	}
}
