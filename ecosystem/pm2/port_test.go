package pm2

import "testing"

func TestFindPort(t *testing.T) {
	tests := []struct {
		src  string
		want int
	}{
		{"app.listen(3000, () => console.log('up'))", 3000},
		{"http.createServer(h).listen(8080);", 8080},
		{"const port = process.env.PORT || 3000;\napp.listen(port)", 3000},
		{"const PORT = 4000\nserver.listen(PORT)", 4000},
		{"app.listen(process.env.PORT ?? '5000')", 5000},
		{"app.listen(3000); other.listen(3000)", 3000},
		{"app.listen(3000); admin.listen(9000)", 0},
		{"app.listen(port)", 0},
		{"setTimeout(f, 3000)", 0},
		{"app.listen(99999)", 0},
	}
	for _, tt := range tests {
		if got, _ := findPort("s.js", []byte(tt.src)); got != tt.want {
			t.Errorf("%q: port %d, want %d", tt.src, got, tt.want)
		}
	}
	if _, where := findPort("server.js", []byte("const port = process.env.PORT || 3000")); where != "server.js: process.env.PORT || 3000" {
		t.Errorf("where = %q", where)
	}
}
