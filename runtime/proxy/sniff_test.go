package proxy

import "testing"

func TestRequestMethod(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"},
		{"GET / HTTP/1.1\r\n", "GET"},
		{"POST /x?y=1 HTTP/1.0\r\n", "POST"},
		{"OPTIONS * HTTP/1.1\n", "OPTIONS"},
		{"PROPFIND /d HTTP/1.1\r\n", "PROPFIND"},
		{"GET / HTTP/1.1", ""},   // the line goes on in the next read
		{"GET / HTTP/1.1\r", ""}, // same
		{"GET / HTTP/2.0\r\n", ""},
		{"GET /  HTTP/1.1\r\n", ""},
		{"GET  / HTTP/1.1\r\n", ""},
		{"get / HTTP/1.1\r\n", ""},
		{" GET / HTTP/1.1\r\n", ""},
		{"GET /a b HTTP/1.1\r\n", ""},
		{"GET", ""},
		{"PING\r\n", ""},
		{"HELO example.org\r\n", ""},
		{"\x16\x03\x01\x02\x00\x01", ""}, // a TLS ClientHello
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(requestMethod([]byte(tt.in))); got != tt.want {
			t.Errorf("requestMethod(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestReplayable(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"OPTIONS * HTTP/1.1\r\n\r\n", true},
		{"TRACE / HTTP/1.1\r\n\r\n", true},
		{"GET / HTTP/1.1\n\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\n", true}, // the header's end is still to come
		{"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", false},
		{"PUT / HTTP/1.1\r\n\r\n", false},
		{"DELETE / HTTP/1.1\r\n\r\n", false},
		{"PATCH / HTTP/1.1\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", false},   // a body
		{"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", false},  // pipelined
		{"GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\n\r\n", false}, // pipelined
		{"GET / HTTP/1.1", false},                                  // no whole line
		{"\x00\x01GET / HTTP/1.1\r\n\r\n", false},
	}
	for _, tt := range tests {
		if got := replayable([]byte(tt.in)); got != tt.want {
			t.Errorf("replayable(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestResponseStart(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"HTTP/1.1 200 OK\r\n", true},
		{"HTTP/1.0 404 Not Found\r\n", true},
		{"HTTP/1.1 100 Continue\r\n\r\n", true},
		{"HTTP/1.1 204 No Content\r\n\r\n", true},
		{"HTTP/1.1 101 Switching Protocols\r\n", false},
		{"HTTP/1.1 10", true}, // too short to tell
		{"HTTP/1.", true},
		{"H", true},
		{"HTTP/2 200\r\n", false},
		{"hello\n", false},
		{"a\n", false},
		{"\x00", false},
	}
	for _, tt := range tests {
		if got := responseStart([]byte(tt.in)); got != tt.want {
			t.Errorf("responseStart(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestResponseBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    string
		head bool
		left int64
		ok   bool
	}{
		{"whole", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", false, 0, true},
		{"part of the body", "HTTP/1.1 200 OK\r\ncontent-length:  10 \r\n\r\nabc", false, 7, true},
		{"header only", "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\n", false, 5, true},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 1\n\nx", false, 0, true},
		{"no body: 204", "HTTP/1.1 204 No Content\r\n\r\n", false, 0, true},
		{"no body: 304 with a length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", false, 0, true},
		{"no body: HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true, 0, true},
		{"keep-alive said", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false, 0, true},
		{"Connection: close", "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n", false, 0, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, 0, false},
		{"ends with the connection", "HTTP/1.1 200 OK\r\n\r\nabc", false, 0, false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, 0, false},
		{"interim", "HTTP/1.1 100 Continue\r\n\r\n", false, 0, false},
		{"switching", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, 0, false},
		{"header not whole", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", false, 0, false},
		{"two answers", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\n", false, 0, false},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\na", false, 0, false},
		{"the same length twice", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", false, 0, true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, 0, false},
		{"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", false, 0, false},
		{"bad status", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", false, 0, false},
		{"not a response", "GET / HTTP/1.1\r\n\r\n", false, 0, false},
	} {
		left, ok := responseBody([]byte(tc.b), tc.head)
		if ok != tc.ok || ok && left != tc.left {
			t.Errorf("%s: responseBody = %d, %v; want %d, %v", tc.name, left, ok, tc.left, tc.ok)
		}
	}
}

func TestHeaderEnd(t *testing.T) {
	for _, tc := range []struct {
		b    string
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\r\n\r\n", 27},
		{"GET / HTTP/1.1\nHost: x\n\nbody", 24},
		{"GET / HTTP/1.1\r\nHost: x\n\r\n", 26},
		{"GET / HTTP/1.1\r\nHost: x\r\n", -1},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r", -1},
		{"", -1},
		{"\n\n", 2},
	} {
		if got := headerEnd([]byte(tc.b)); got != tc.want {
			t.Errorf("headerEnd(%q) = %d, want %d", tc.b, got, tc.want)
		}
	}
}
