package control

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHome(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{name: "default", env: map[string]string{"HOME": "/home/ann"}, want: "/home/ann/.eco"},
		{name: "empty ECO_HOME is unset", env: map[string]string{"HOME": "/home/ann", "ECO_HOME": ""}, want: "/home/ann/.eco"},
		{name: "ECO_HOME", env: map[string]string{"HOME": "/home/ann", "ECO_HOME": "/srv/eco/"}, want: "/srv/eco"},
		{name: "cleaned", env: map[string]string{"ECO_HOME": "/srv//x/../eco"}, want: "/srv/eco"},
		{name: "relative", env: map[string]string{"ECO_HOME": "state/eco"}, want: filepath.Join(cwd, "state/eco")},
		{name: "tilde", env: map[string]string{"HOME": "/home/ann", "ECO_HOME": "~/eco"}, want: "/home/ann/eco"},
		{name: "tilde alone", env: map[string]string{"HOME": "/home/ann", "ECO_HOME": "~"}, want: "/home/ann"},
		{name: "no HOME", env: map[string]string{}, wantErr: true},
		{name: "tilde without HOME", env: map[string]string{"ECO_HOME": "~/eco"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Home(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if (err != nil) != tt.wantErr {
				t.Fatalf("Home() error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Home() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	if got := SocketPath("/root/.eco"); got != "/root/.eco/eco.sock" {
		t.Errorf("SocketPath = %q", got)
	}
	if got := LockPath("/root/.eco"); got != "/root/.eco/daemon.lock" {
		t.Errorf("LockPath = %q", got)
	}
}

// asRoot skips a test that needs to chown files to another user.
func asRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
}

// nobody is a uid that is not the test's.
const nobody = 65534

func TestSecureHome(t *testing.T) {
	t.Run("missing is created 0700", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "a", "home")
		if err := SecureHome(home); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(home)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("created %v", fi.Mode())
		}
	})
	t.Run("in a sticky folder is fine", func(t *testing.T) {
		parent := t.TempDir()
		chmod(t, parent, 0o777|os.ModeSticky)
		if err := SecureHome(filepath.Join(parent, "home")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("own 0750 is fine", func(t *testing.T) {
		home := t.TempDir()
		if err := os.Chmod(home, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, "state.json"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := SecureHome(home); err != nil {
			t.Fatal(err)
		}
	})

	refused := []struct {
		name    string
		root    bool
		prepare func(t *testing.T, home string) (path string)
		want    []string
	}{
		{name: "world-writable", prepare: func(t *testing.T, home string) string {
			chmod(t, home, 0o777)
			return home
		}, want: []string{"can be written by other users", "mode 0777", "chmod 700"}},
		{name: "group-writable", prepare: func(t *testing.T, home string) string {
			chmod(t, home, 0o770)
			return home
		}, want: []string{"can be written by other users", "mode 0770"}},
		{name: "another user's", root: true, prepare: func(t *testing.T, home string) string {
			chmod(t, home, 0o700)
			chown(t, home, nobody)
			return home
		}, want: []string{"belongs to another user", "uid 65534", "mode 0700", "chown"}},
		{name: "another user's state", root: true, prepare: func(t *testing.T, home string) string {
			path := filepath.Join(home, "state.json")
			if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
			chown(t, path, nobody)
			return path
		}, want: []string{"state.json belongs to another user", "uid 65534"}},
		{name: "another user's run folder", root: true, prepare: func(t *testing.T, home string) string {
			path := filepath.Join(home, "run")
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			chown(t, path, nobody)
			return path
		}, want: []string{"run belongs to another user"}},
		{name: "in a folder others can write to", prepare: func(t *testing.T, home string) string {
			parent := filepath.Dir(home)
			chmod(t, parent, 0o777)
			return parent
		}, want: []string{"the folder that holds eco's home can be written by other users", "mode 0777", "chmod go-w"}},
		{name: "in another user's folder", root: true, prepare: func(t *testing.T, home string) string {
			parent := filepath.Dir(home)
			chown(t, parent, nobody)
			return parent
		}, want: []string{"the folder that holds eco's home belongs to another user", "uid 65534"}},
		{name: "linked state", prepare: func(t *testing.T, home string) string {
			path := filepath.Join(home, "state.json")
			symlink(t, filepath.Join(t.TempDir(), "elsewhere.json"), path)
			return path
		}, want: []string{"state.json is a symbolic link"}},
		{name: "linked socket", prepare: func(t *testing.T, home string) string {
			path := SocketPath(home)
			symlink(t, "/run/other.sock", path)
			return path
		}, want: []string{"eco.sock is a symbolic link"}},
		{name: "linked lock", prepare: func(t *testing.T, home string) string {
			path := LockPath(home)
			symlink(t, "/etc/passwd", path)
			return path
		}, want: []string{"daemon.lock is a symbolic link"}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				asRoot(t)
			}
			home := t.TempDir()
			path := tt.prepare(t, home)
			err := SecureHome(home)
			var he *HomeError
			if !errors.As(err, &he) {
				t.Fatalf("SecureHome = %v, want a *HomeError", err)
			}
			if he.Path != path {
				t.Errorf("the error names %s, want %s", he.Path, path)
			}
			for _, want := range append(tt.want, path, "owner ") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestForeignHome_NothingStarts: with a home that SecureHome refuses, neither EnsureDaemon,
// Lock nor Listen reads it or creates anything in it.
func TestForeignHome_NothingStarts(t *testing.T) {
	for _, how := range []string{"world-writable", "another user's"} {
		t.Run(how, func(t *testing.T) {
			home := t.TempDir()
			if how == "world-writable" {
				chmod(t, home, 0o777)
			} else {
				asRoot(t)
				chown(t, home, nobody)
			}
			// A "daemon" that would answer if started: the test binary's helper.
			_, err := EnsureDaemon(t.Context(), home, testExe, nil)
			var he *HomeError
			if !errors.As(err, &he) {
				t.Errorf("EnsureDaemon = %v, want a *HomeError", err)
			}
			if _, err := Lock(home); !errors.As(err, &he) {
				t.Errorf("Lock = %v, want a *HomeError", err)
			}
			if ln, err := Listen(home, nil); !errors.As(err, &he) {
				if err == nil {
					ln.Close()
				}
				t.Errorf("Listen = %v, want a *HomeError", err)
			}
			entries, err := os.ReadDir(home)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				t.Errorf("%s appeared in the refused home", e.Name())
			}
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Lchown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
	// t.TempDir's cleanup removes it as root: nothing to give back.
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
