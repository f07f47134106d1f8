package control

import (
	"os"
	"path/filepath"
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
