package ecosystem

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParse_PM2File: a PM2 file given where HCL is expected gets one error that says what it is
// and how to convert it, not HCL's syntax errors; HCL files are never taken for one.
func TestParse_PM2File(t *testing.T) {
	tests := []struct {
		name, src string
		pm2       bool
	}{
		{"ecosystem.config.js", "module.exports = {\n  apps: [{ name: 'api', script: 'server.js' }]\n}\n", true},
		{"ecosystem.config.cjs", "const apps = [{ script: 'a.js' }];\nmodule.exports = { apps };\n", true},
		{"ecosystem.config.mjs", "export default { apps: [] };\n", true},
		{"process.json", "{\n  \"apps\": [{\"name\": \"api\", \"script\": \"server.js\"}]\n}\n", true},
		{"process.yaml", "apps:\n  - script: ./api.js\n    name: api\n", true},
		{"process.yml", "apps:\n  - script: ./api.js\n", true},
		{"dump.pm2", "[{\"name\":\"a\",\"pm_exec_path\":\"/a.js\"}]", true},
		{"saved.json", "[{\"name\":\"a\",\"pm_exec_path\":\"/a.js\"}]", true},
		{"ecosystem.hcl", "# apps: not PM2\napp \"a\" {\n  script = \"a.js\"\n}\n", false},
		{"app.js", "const app = require('express')();\napp.listen(3000);\nmodule.exports = app;\n", false},
		{"pm2.config.js", "const base = require('./base');\nmodule.exports = base;\n", true},
		{"other.json", "{\"name\": \"not pm2\"}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.name)
			if err := os.WriteFile(path, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, diags := Parse(path)
			isPM2 := len(diags) == 1 && diags[0].Summary == "This is a PM2 ecosystem file"
			if isPM2 != tt.pm2 {
				t.Fatalf("taken for PM2: %v, want %v; diagnostics: %v", isPM2, tt.pm2, diags)
			}
			if !tt.pm2 {
				return
			}
			d := diags[0]
			if !strings.Contains(d.Detail, "eco import "+path+" > ecosystem.hcl") {
				t.Errorf("detail %q lacks the command", d.Detail)
			}
			if d.Subject == nil || d.Subject.Filename != path || d.Subject.Start.Line != 1 {
				t.Errorf("subject %v, want %s line 1", d.Subject, path)
			}
		})
	}
}

// TestFiles_PM2Folder: a folder with a PM2 file and no .hcl file says how to convert it.
func TestFiles_PM2Folder(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ecosystem.config.js"), []byte("module.exports = { apps: [] };\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Files(dir)
	want := "eco import " + filepath.Join(dir, "ecosystem.config.js") + " > " + filepath.Join(dir, "ecosystem.hcl")
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
	if _, err := Files(t.TempDir()); err == nil || strings.Contains(err.Error(), "eco import") {
		t.Errorf("an empty folder: %v", err)
	}
}
