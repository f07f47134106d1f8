package proxy

import (
	"bytes"
	"sync"
	"time"
)

// A request is replayed at most once (relay.go). One that was sent to two
// backends which both died is poison: the client gets a 502, and its
// fingerprint is remembered for poisonTTL, so that the same request, sent
// again meanwhile, kills at most the one backend it reaches and is never
// replayed to another.

// poisonTTL is how long a poison request's fingerprint is remembered.
const poisonTTL = 5 * time.Minute

// maxPoison bounds the fingerprints remembered; past it the oldest goes.
const maxPoison = 1024

// badGateway is what the client of a request that may not be replayed gets
// when its backend dies before answering. Nothing of an answer reached the
// client, so a whole response can be written.
const badGateway = "HTTP/1.1 502 Bad Gateway\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Length: 57\r\n" +
	"Connection: close\r\n" +
	"\r\n" +
	"eco: the instances that got this request died answering.\n"

// poisonSet is the fingerprints of the poison requests seen lately.
type poisonSet struct {
	mu   sync.Mutex
	seen map[uint64]time.Time // fingerprint -> when it is forgotten
}

// has reports whether fp is remembered at now.
func (s *poisonSet) has(fp uint64, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.seen[fp]
	if ok && !now.Before(until) {
		delete(s.seen, fp)
		return false
	}
	return ok
}

// add remembers fp until now+poisonTTL.
func (s *poisonSet) add(fp uint64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = make(map[uint64]time.Time)
	}
	if _, ok := s.seen[fp]; !ok && len(s.seen) >= maxPoison {
		var oldest uint64
		var first time.Time
		for k, t := range s.seen {
			if first.IsZero() || t.Before(first) {
				oldest, first = k, t
			}
		}
		delete(s.seen, oldest)
	}
	s.seen[fp] = now.Add(poisonTTL)
}

// len is how many fingerprints are remembered, expired ones included.
func (s *poisonSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// fingerprint identifies a request by its request line (method and target)
// and its Host header: what makes it the same request when a client sends it
// again, whatever its other headers. req is a whole request header.
func fingerprint(req []byte) uint64 {
	h := uint64(14695981039346656037)
	add := func(b []byte) {
		for _, c := range b {
			h ^= uint64(c)
			h *= 1099511628211
		}
		h ^= 0xff
		h *= 1099511628211
	}
	line, rest, _ := bytes.Cut(req, []byte("\n"))
	add(bytes.TrimSpace(line))
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\n"))
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			break
		}
		if len(l) > 5 && bytes.EqualFold(l[:5], []byte("host:")) {
			add(bytes.ToLower(bytes.TrimSpace(l[5:])))
			break
		}
	}
	return mix(h)
}

// requestLine is the first line of req, for logs, at most 200 bytes.
func requestLine(req []byte) string {
	line, _, _ := bytes.Cut(req, []byte("\n"))
	line = bytes.TrimSpace(line)
	if len(line) > 200 {
		line = line[:200]
	}
	return string(line)
}
