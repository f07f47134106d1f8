package settings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse_WebhookSecret(t *testing.T) {
	s, diags := Parse("/home/x/daemon.hcl", []byte("webhook {\n  listen = \"127.0.0.1:9101\"\n  secret_file = \"hook.secret\"\n}\n"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if s.WebhookSecret == nil || s.WebhookSecret.File != "/home/x/hook.secret" || s.WebhookSecret.Range.Start.Line != 3 {
		t.Fatalf("secret = %+v", s.WebhookSecret)
	}
	s, diags = Parse("daemon.hcl", []byte("webhook {\n  listen = \"127.0.0.1:9101\"\n  secret_env = \"HOOK_SECRET\"\n}\n"))
	if diags.HasErrors() || s.WebhookSecret == nil || s.WebhookSecret.Env != "HOOK_SECRET" {
		t.Fatalf("secret_env: %+v %v", s.WebhookSecret, diags)
	}

	cases := []struct {
		name, body, want string
		line             int
	}{
		{"none", "", "Missing webhook secret", 1},
		{"both", "  secret_file = \"/s\"\n  secret_env = \"S\"\n", "not both", 4},
		{"empty", "  secret_file = \"\"\n", "non-empty string", 3},
		{"number", "  secret_env = 3\n", "non-empty string", 3},
		{"bad env name", "  secret_env = \"A-B\"\n", "not an environment variable name", 3},
		{"typo", "  secret = \"x\"\n", "Unsupported argument", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := "webhook {\n  listen = \"127.0.0.1:9101\"\n" + c.body + "}\n"
			s, diags := Parse("daemon.hcl", []byte(src))
			if !diags.HasErrors() || s.Webhook != nil || s.WebhookSecret != nil {
				t.Fatalf("no error or settings kept: %+v %v", s, diags)
			}
			var found bool
			for _, d := range diags {
				if strings.Contains(d.Summary+" "+d.Detail, c.want) && d.Subject != nil && d.Subject.Start.Line == c.line {
					found = true
				}
			}
			if !found {
				t.Errorf("diagnostics %v, want %q at line %d", diags, c.want, c.line)
			}
		})
	}
	// The metrics block takes no secret.
	if _, diags := Parse("daemon.hcl", []byte("metrics {\n  listen = \"127.0.0.1:9100\"\n  secret_env = \"S\"\n}\n")); !diags.HasErrors() {
		t.Error("metrics took a secret_env")
	}
}

func TestSecret_Read(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "s")
	if err := os.WriteFile(f, []byte("  top-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := (&Secret{File: f}).Read(); err != nil || string(b) != "top-secret" {
		t.Errorf("file: %q %v", b, err)
	}
	t.Setenv("ECO_TEST_HOOK", "from-env")
	if b, err := (&Secret{Env: "ECO_TEST_HOOK"}).Read(); err != nil || string(b) != "from-env" {
		t.Errorf("env: %q %v", b, err)
	}
	if _, err := (&Secret{Env: "ECO_TEST_HOOK_UNSET"}).Read(); err == nil {
		t.Error("unset variable read")
	}
	empty := filepath.Join(dir, "e")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := (&Secret{File: empty}).Read(); err == nil {
		t.Error("empty secret read")
	}
}
