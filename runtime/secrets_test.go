package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/control"
)

func TestSecretEnvName(t *testing.T) {
	secret := []string{
		"PASSWORD", "DB_PASSWORD", "db_password", "dbPassword", "MYSQL_PWD", "REDIS_PASS", "PGPASSWORD",
		"API_KEY", "apiKey", "STRIPE_APIKEY", "PRIVATE_KEY", "AWS_SECRET_ACCESS_KEY", "JWT_SECRET",
		"GITHUB_TOKEN", "NODE_AUTH_TOKEN", "GITHUBTOKEN", "GOOGLE_APPLICATION_CREDENTIALS", "SENTRY_DSN",
		"BASIC_AUTH", "SSH_PASSPHRASE", "session.secret", "x-api-key",
	}
	plain := []string{
		"PORT", "NODE_ENV", "PWD", "OLDPWD", "MONKEY", "TURKEY_COUNT", "KEYBOARD", "HOME", "PATH",
		"DATABASE_URL", "PASSENGER", "TOKENIZER_MODEL", "AUTHOR", "NODE_APP_INSTANCE",
	}
	for _, n := range secret {
		if !SecretEnvName(n) {
			t.Errorf("SecretEnvName(%q) = false, want true", n)
		}
	}
	for _, n := range plain {
		if SecretEnvName(n) {
			t.Errorf("SecretEnvName(%q) = true, want false", n)
		}
	}
}

func TestMaskEnvValue(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"DB_PASSWORD", "hunter2", Masked},
		{"PORT", "3000", "3000"},
		{"DATABASE_URL", "postgres://app:hunter2@db:5432/shop?sslmode=off", "postgres://app:" + Masked + "@db:5432/shop?sslmode=off"},
		{"REDIS_URL", "redis://:hunter2@cache", "redis://:" + Masked + "@cache"},
		{"AMQP", "amqp://user@host/vh", "amqp://user@host/vh"},
		{"UPSTREAMS", "http://a:p1@x http://b:p2@y", "http://a:" + Masked + "@x http://b:" + Masked + "@y"},
		{"PG", "host=db user=app password=hunter2 dbname=shop", "host=db user=app password=" + Masked + " dbname=shop"},
		{"HOMEPAGE", "https://example.com/a@b", "https://example.com/a@b"},
	}
	for _, tt := range tests {
		if got := MaskEnvValue(tt.name, tt.value); got != tt.want {
			t.Errorf("MaskEnvValue(%q, %q) = %q, want %q", tt.name, tt.value, got, tt.want)
		}
	}
}

// TestSecrets_API: the raw API answers never carry a secret env value, unless
// ?show_secrets=1 asks for them; the app keeps running with the real values.
func TestSecrets_API(t *testing.T) {
	h := startDaemon(t)
	app := h.app("web", "serve", 1, map[string]string{
		"DB_PASSWORD":  "hunter2",
		"DATABASE_URL": "postgres://app:hunter3@db/shop",
		"PLAIN":        "visible",
	})
	h.apply("p", app)
	pids := h.online("web", 1)
	if env := h.envOf(pids[0]); env["DB_PASSWORD"] != "hunter2" || env["DATABASE_URL"] != "postgres://app:hunter3@db/shop" {
		t.Fatalf("the instance's env lacks the real values: %v", env)
	}

	raw := func(path string) string {
		t.Helper()
		var body json.RawMessage
		if err := h.cl.Do(context.Background(), "GET", path, nil, &body); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return string(body)
	}
	for _, path := range []string{"/v1/apps/web", "/v1/apps/web?show_secrets=0", "/v1/apps"} {
		body := raw(path)
		for _, secret := range []string{"hunter2", "hunter3"} {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows %q:\n%s", path, secret, body)
			}
		}
		if path != "/v1/apps" && (!strings.Contains(body, `"DB_PASSWORD":"`+Masked+`"`) || !strings.Contains(body, `"PLAIN":"visible"`)) {
			t.Errorf("GET %s does not mask as expected:\n%s", path, body)
		}
	}
	body := raw("/v1/apps/web?show_secrets=1")
	if !strings.Contains(body, "hunter2") || !strings.Contains(body, "postgres://app:hunter3@db/shop") {
		t.Errorf("show_secrets=1 hides the values:\n%s", body)
	}
	var apiErr *control.APIError
	if err := h.cl.Do(context.Background(), "GET", "/v1/apps/web?show_secrets=please", nil, nil); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Errorf("show_secrets=please: %v, want 400", err)
	}
	// The masked answer left the running app's configuration alone.
	if a := h.describe("web"); a.Config == nil || a.Config.Env["DB_PASSWORD"] != Masked {
		t.Errorf("describe after: %+v", a.Config)
	}
	if body := raw("/v1/apps/web?show_secrets=true"); !strings.Contains(body, "hunter2") {
		t.Errorf("a masked answer changed the app's configuration:\n%s", body)
	}

	// A plan names a changed secret and never shows its values.
	app.Env["DB_PASSWORD"] = "hunter4"
	var resp ApplyResponse
	req := ApplyRequest{Config: ecosystem.Config{Project: "p", Apps: []ecosystem.App{app}}, DryRun: true}
	if err := h.cl.Do(context.Background(), "POST", "/v1/apply", req, &resp); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(resp)
	if strings.Contains(string(b), "hunter") || !strings.Contains(string(b), "env.DB_PASSWORD changed") {
		t.Errorf("the plan of a changed secret:\n%s", b)
	}
}
