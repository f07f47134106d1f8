package settings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad_Missing(t *testing.T) {
	s, diags := Load(t.TempDir())
	if diags.HasErrors() || s.Metrics != nil || s.Webhook != nil {
		t.Fatalf("missing file: %+v %v", s, diags)
	}
}

func TestLoad_Valid(t *testing.T) {
	home := t.TempDir()
	src := "metrics {\n  listen = \"127.0.0.1:9100\"\n}\nwebhook {\n  listen = \"[::1]:9101\"\n  secret_env = \"ECO_HOOK\"\n}\n"
	if err := os.WriteFile(filepath.Join(home, FileName), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	s, diags := Load(home)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if s.Metrics == nil || s.Metrics.Addr != "127.0.0.1:9100" || s.Webhook == nil || s.Webhook.Addr != "[::1]:9101" {
		t.Fatalf("settings = %+v / %+v", s.Metrics, s.Webhook)
	}
	if s.Metrics.Range.Start.Line != 2 {
		t.Errorf("metrics listen range = %v", s.Metrics.Range)
	}
}

func TestParse_Invalid(t *testing.T) {
	cases := []struct {
		name, src, want string
		line            int
	}{
		{"public address", "metrics {\n  listen = \"0.0.0.0:9100\"\n}\n", "not a loopback address", 2},
		{"no port", "webhook {\n  listen = \"127.0.0.1\"\n}\n", "not host:port", 2},
		{"bad port", "webhook {\n  listen = \"127.0.0.1:http-ish\"\n}\n", "not a port", 2},
		{"number", "metrics {\n  listen = 9100\n}\n", "must be a string", 2},
		{"unknown block", "metric {\n  listen = \"127.0.0.1:1\"\n}\n", "Unsupported block type", 1},
		{"unknown attribute", "metrics {\n  listen = \"127.0.0.1:1\"\n  lisen = 2\n}\n", "Unsupported argument", 3},
		{"missing listen", "metrics {\n}\n", "Missing required argument", 1},
		{"duplicate", "metrics {\n  listen = \"127.0.0.1:1\"\n}\nmetrics {\n  listen = \"127.0.0.1:2\"\n}\n", "Duplicate metrics block", 4},
		{"syntax", "metrics {\n  listen = \n}\n", "", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, diags := Parse("daemon.hcl", []byte(c.src))
			if !diags.HasErrors() {
				t.Fatalf("no error; settings %+v", s)
			}
			if s.Metrics != nil || s.Webhook != nil {
				t.Errorf("an invalid file gave settings %+v", s)
			}
			d := diags[0]
			if !strings.Contains(d.Summary+" "+d.Detail, c.want) {
				t.Errorf("diagnostic %q / %q, want %q", d.Summary, d.Detail, c.want)
			}
			if d.Subject == nil || d.Subject.Start.Line != c.line || d.Subject.Filename != "daemon.hcl" {
				t.Errorf("position %v, want daemon.hcl line %d", d.Subject, c.line)
			}
		})
	}
}
