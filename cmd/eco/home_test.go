package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI_RefusesForeignHome: an ECO_HOME that others can write to, or that belongs to another
// user, is refused by every command that would read it or start a daemon there, with a message
// naming the path, its owner and mode; nothing appears in it.
func TestCLI_RefusesForeignHome(t *testing.T) {
	for _, how := range []string{"world-writable", "another user's"} {
		t.Run(how, func(t *testing.T) {
			home := t.TempDir()
			// Another user's state: an app that must never run.
			marker := filepath.Join(t.TempDir(), "ran")
			state := `{"version":1,"projects":{"p":{"config":{"project":"p","dir":"/","apps":[{"name":"evil","command":["/bin/sh","-c","touch ` + marker + `"],"cwd":"/","instances":1,"exec_mode":"fork"}]},"source":{"path":"/x.hcl"}}}}`
			if err := os.WriteFile(filepath.Join(home, "state.json"), []byte(state), 0o666); err != nil {
				t.Fatal(err)
			}
			want := []string{home, "mode 0777", "owner root, uid 0", "chmod 700"}
			if how == "world-writable" {
				if err := os.Chmod(home, 0o777); err != nil {
					t.Fatal(err)
				}
				if os.Geteuid() != 0 {
					want[2] = "owner "
				}
			} else {
				if os.Geteuid() != 0 {
					t.Skip("needs root to give the folder to another user")
				}
				if err := os.Chmod(home, 0o700); err != nil {
					t.Fatal(err)
				}
				for _, p := range []string{home, filepath.Join(home, "state.json")} {
					if err := os.Chown(p, 65534, 65534); err != nil {
						t.Fatal(err)
					}
				}
				want = []string{home, "mode 0700", "uid 65534", "belongs to another user", "chown"}
			}
			t.Setenv("ECO_HOME", home)
			t.Setenv("ECO_TEST_MAIN", "1")
			for _, args := range [][]string{{"ls"}, {"describe", "evil"}, {"logs", "evil"}, {"kill"}, {"daemon"}, {"daemon", "--foreground"}} {
				stdout, stderr, code := runEco(t, args...)
				if code == 0 {
					t.Errorf("eco %s: exit 0\nstdout:\n%s", strings.Join(args, " "), stdout)
				}
				for _, w := range want {
					if !strings.Contains(stderr, w) {
						t.Errorf("eco %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, stderr)
					}
				}
			}
			entries, err := os.ReadDir(home)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Name() != "state.json" {
					t.Errorf("%s appeared in the refused home", e.Name())
				}
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the app of the refused home's state ran")
			}
		})
	}
}
