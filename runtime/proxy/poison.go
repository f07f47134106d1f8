package proxy

import (
	"bytes"
	"sync"
	"time"
)

// A request is replayed at most once (relay.go). One that was sent to two
// backends which both died gets a 502. Its fingerprint (poison.go's
// fingerprint: method, target, Host) keeps a count of its replays and of those
// whose second backend died too. When more than half of them did, the request
// is poison: sent again within poisonTTL of the last such death, it gets a 502
// when its first backend dies, never a replay, so a client that keeps sending
// it kills one backend per request at most.
//
// The counts tell a request that kills its backend (every replay dies) from a
// popular one that was in flight when backends crashed for other reasons (most
// of its replays are answered): under random crashes, GET / must go on being
// replayed even after it was, once, in flight on two backends that died.

// poisonTTL is how long a fingerprint's counts are kept after its last update.
const poisonTTL = 5 * time.Minute

// maxPoison bounds the fingerprints kept; past it the oldest goes.
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

// poisonSet counts the replays of the fingerprints seen lately.
type poisonSet struct {
	mu   sync.Mutex
	seen map[uint64]*fpCount
}

// fpCount is one fingerprint's replays, and those whose second backend died.
type fpCount struct {
	replays, deaths int
	until           time.Time // when it is forgotten
}

// getLocked returns fp's counts, made if need be, and keeps them until now+poisonTTL.
func (s *poisonSet) getLocked(fp uint64, now time.Time) *fpCount {
	if s.seen == nil {
		s.seen = make(map[uint64]*fpCount)
	}
	c := s.seen[fp]
	if c != nil && !now.Before(c.until) {
		c.replays, c.deaths = 0, 0
	}
	if c == nil {
		if len(s.seen) >= maxPoison {
			var oldest uint64
			var first time.Time
			for k, v := range s.seen {
				if first.IsZero() || v.until.Before(first) {
					oldest, first = k, v.until
				}
			}
			delete(s.seen, oldest)
		}
		c = &fpCount{}
		s.seen[fp] = c
	}
	c.until = now.Add(poisonTTL)
	return c
}

// replayed counts a replay of fp, starting at now.
func (s *poisonSet) replayed(fp uint64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.getLocked(fp, now).replays++
}

// died counts a replay of fp whose backend died too.
func (s *poisonSet) died(fp uint64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.getLocked(fp, now).deaths++
}

// has reports whether fp is poison at now: more than half of its replays died.
func (s *poisonSet) has(fp uint64, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.seen[fp]
	if c == nil {
		return false
	}
	if !now.Before(c.until) {
		delete(s.seen, fp)
		return false
	}
	return c.deaths > 0 && 2*c.deaths > c.replays
}

// len is how many fingerprints are kept, expired ones included.
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
