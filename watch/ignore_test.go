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
