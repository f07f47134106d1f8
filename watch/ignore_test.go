package watch

import "testing"

func TestIgnored(t *testing.T) {
	t.Parallel()
	const root = "/srv/app"
	tests := []struct {
		pattern string
		path    string
		want    bool
	}{
		{"node_modules", "/srv/app/node_modules", true},
		{"node_modules", "/srv/app/node_modules/x/y.js", true},
		{"node_modules", "/srv/app/web/node_modules/x.js", true},
		{"node_modules", "/srv/app/node_modules_old/x.js", false},
		{".git", "/srv/app/.git/HEAD", true},
		{"*.log", "/srv/app/api.out.log", true},
		{"*.log", "/srv/app/logs/api.err.log", true},
		{"*.log", "/srv/app/log.txt", false},
		{"*.log.*", "/srv/app/logs/api.log.1", true},
		{"*.log.*", "/srv/app/logs/api.log.2.gz", true},
		{"tmp/**", "/srv/app/tmp", true},
		{"tmp/**", "/srv/app/tmp/a/b/c", true},
		{"tmp/**", "/srv/app/src/tmp/a", false},
		{"**/tmp", "/srv/app/src/tmp/a", true},
		{"src/*.gen.go", "/srv/app/src/x.gen.go", true},
		{"src/*.gen.go", "/srv/app/src/sub/x.gen.go", false},
		{"src/**/*.gen.go", "/srv/app/src/sub/x.gen.go", true},
		{"src/**/*.gen.go", "/srv/app/src/x.gen.go", true},
		{"./dist/", "/srv/app/dist/main.js", true},
		{"/srv/app/cache", "/srv/app/cache/x", true},
		{"/srv/*/cache", "/srv/app/cache/x", true},
		{"/srv/app/cache", "/srv/app/src/cache", false},
		{"*", "/srv/app", false}, // the watched path itself is never ignored
		{"app", "/srv/app/x", false},
		{Literal("/srv/app/ecosystem.hcl"), "/srv/app/ecosystem.hcl", true},
		{Literal("/srv/app/ecosystem.hcl"), "/srv/app/ecosystem.hcl.bak", false},
		{Literal("/srv/app/web/ecosystem.hcl"), "/srv/app/ecosystem.hcl", false},
		{Literal("/srv/app/conf") + "/*.hcl", "/srv/app/conf/web.hcl", true},
		{Literal("/srv/app/conf") + "/*.hcl", "/srv/app/conf/web.json", false},
		{Literal("/srv/app/conf") + "/*.hcl", "/srv/app/conf/sub/web.hcl", false},
		{Literal("/srv/app/[x]*?.hcl"), "/srv/app/[x]*?.hcl", true},
		{Literal("/srv/app/[x]*?.hcl"), "/srv/app/xyz.hcl", false},
	}
	for _, tt := range tests {
		p, err := compile(tt.pattern)
		if err != nil {
			t.Fatalf("compile(%q): %v", tt.pattern, err)
		}
		if got := ignored([]pattern{p}, root, tt.path); got != tt.want {
			t.Errorf("ignored(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

// TestDefaultIgnore_EditorTemp: the files editors write while saving are ignored, and the
// files they save are not.
func TestDefaultIgnore_EditorTemp(t *testing.T) {
	t.Parallel()
	var pats []pattern
	for _, g := range DefaultIgnore() {
		p, err := compile(g)
		if err != nil {
			t.Fatal(err)
		}
		pats = append(pats, p)
	}
	const root = "/srv/app"
	for _, path := range []string{
		"/srv/app/.server.js.swp", "/srv/app/.server.js.swx", "/srv/app/.server.js.swo", "/srv/app/src/.x.go.swn",
		"/srv/app/server.js.swp", "/srv/app/4913", "/srv/app/src/4913", "/srv/app/server.js~",
		"/srv/app/#server.js#", "/srv/app/.#server.js",
		"/srv/app/server.js___jb_tmp___", "/srv/app/server.js___jb_old___",
		"/srv/app/server.js.tmp", "/srv/app/.ecosystem.hcl.1234.tmp",
	} {
		if !ignored(pats, root, path) {
			t.Errorf("%s is not ignored", path)
		}
	}
	for _, path := range []string{
		"/srv/app/server.js", "/srv/app/ecosystem.hcl", "/srv/app/swp.js", "/srv/app/a4913.txt",
		"/srv/app/.env", "/srv/app/src/#readme.md", "/srv/app/tmp/x.js", "/srv/app/.swpignore",
	} {
		if ignored(pats, root, path) {
			t.Errorf("%s is ignored", path)
		}
	}
}
