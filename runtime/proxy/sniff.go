package proxy

import "bytes"

// What the relay needs to know about HTTP/1.x, from the first bytes of a turn and
// nothing more: the proxy never parses a message past its first line.

// maxMethod bounds the method token of a request line.
const maxMethod = 20

// requestMethod returns the method of the request line b starts with, or nil
// when b does not start with a whole HTTP/1.x request line: a method of
// uppercase letters, a space, a target of visible bytes, a space, "HTTP/1.", a
// digit and the end of the line. A line split over two reads does not count.
func requestMethod(b []byte) []byte {
	i := 0
	for i < len(b) && i < maxMethod && 'A' <= b[i] && b[i] <= 'Z' {
		i++
	}
	if i == 0 || i >= len(b) || b[i] != ' ' {
		return nil
	}
	j := i + 1
	for j < len(b) && b[j] > ' ' && b[j] != 0x7f {
		j++
	}
	if j == i+1 || j >= len(b) || b[j] != ' ' {
		return nil
	}
	v := b[j+1:]
	if len(v) < 9 || string(v[:7]) != "HTTP/1." || v[7] < '0' || v[7] > '9' {
		return nil
	}
	if v[8] != '\n' && (v[8] != '\r' || len(v) < 10 || v[9] != '\n') {
		return nil
	}
	return b[:i]
}

// idempotent reports whether a request of this method may be sent twice: the
// methods that never change anything on the server. PUT and DELETE are
// idempotent in the RFC, but an app may count them, so they are left out.
func idempotent(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}

// replayable reports whether b, bytes no backend has answered, can be sent to
// another backend: one idempotent request, its header maybe not whole yet, and
// nothing after its header (no body, no second request).
func replayable(b []byte) bool {
	if m := requestMethod(b); m == nil || !idempotent(m) {
		return false
	}
	end := headerEnd(b)
	return end < 0 || end == len(b)
}

// headerEnd is the index just past the blank line ending the header b starts
// with, or -1 when b holds no blank line. A line ends with LF or CRLF. It looks
// at line ends only, so a body after the header costs nothing.
func headerEnd(b []byte) int {
	i := 0
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

// responseStart reports whether b can be the start of an HTTP/1.x response
// other than 101 Switching Protocols (after which the connection no longer
// carries HTTP). A b too short to tell counts when it agrees with what it has.
func responseStart(b []byte) bool {
	const prefix = "HTTP/1.x 101"
	for i := 0; i < len(b) && i < len(prefix); i++ {
		switch {
		case i == 7:
			if b[i] < '0' || b[i] > '9' {
				return false
			}
		case i > 8:
			if b[i] != prefix[i] {
				return true // not 101
			}
		case b[i] != prefix[i]:
			return false
		}
	}
	return len(b) < len(prefix)
}

// maxBody bounds the Content-Length that responseBody accepts.
const maxBody = 1 << 50

// responseBody reads the head of a response that b starts with, the backend's first bytes of
// a turn, and returns how many bytes of its body b does not hold yet. ok is false unless the
// response leaves the connection open for another request and its end can be counted: an
// HTTP/1.1 final status (not 1xx), its whole header in b, no "Connection: close", and a
// Content-Length (or no body: 204, 304, or an answer to HEAD), with no byte in b past its
// body. Anything else (chunked, a body that ends with the connection, HTTP/1.0, a second
// response in b) is not ok: only the connection's end can tell where it ends.
func responseBody(b []byte, head bool) (left int64, ok bool) {
	const prefix = "HTTP/1.1 "
	if len(b) < len(prefix)+4 || string(b[:len(prefix)]) != prefix {
		return 0, false
	}
	code := b[len(prefix) : len(prefix)+3]
	for _, d := range code {
		if d < '0' || d > '9' {
			return 0, false
		}
	}
	if code[0] == '1' {
		return 0, false
	}
	end := headerEnd(b)
	if end < 0 {
		return 0, false
	}
	length := int64(-1)
	_, rest, _ := bytes.Cut(b[:end], []byte("\n"))
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, good := parseLength(value)
			if !good || length >= 0 && n != length {
				return 0, false
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, false
		case bytes.EqualFold(name, []byte("Connection")):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				if bytes.EqualFold(bytes.TrimSpace(tok), []byte("close")) {
					return 0, false
				}
			}
		}
	}
	if head || string(code) == "204" || string(code) == "304" {
		length = 0
	}
	if length < 0 {
		return 0, false
	}
	left = length - int64(len(b)-end)
	return left, left >= 0
}

// parseLength reads a Content-Length value: decimal digits only.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 15 {
		return 0, false
	}
	var n int64
	for _, d := range v {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, n <= maxBody
}
