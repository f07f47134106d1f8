package proxy

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// pickLocked chooses a ready backend not in tried by the current mode, or nil.
// It moves the round-robin cursor past the backend it returns.
func (p *Proxy) pickLocked(client uint64, tried []*backend) *backend {
	n := len(p.ready)
	switch p.mode {
	case IPHash:
		var best *backend
		var bestScore uint64
		for _, b := range p.ready {
			if isTried(tried, b) {
				continue
			}
			if s := score(b.hash, client); best == nil || beats(s, b.key, bestScore, best.key) {
				best, bestScore = b, s
			}
		}
		return best
	case LeastConn:
		var best *backend
		at := 0
		for i := range n {
			j := (p.next + i) % n
			b := p.ready[j]
			if isTried(tried, b) {
				continue
			}
			if best == nil || b.active < best.active {
				best, at = b, j
			}
		}
		if best != nil {
			p.next = (at + 1) % n
		}
		return best
	default: // RoundRobin, and any mode we do not know
		least := int64(-1)
		for _, b := range p.ready {
			if isTried(tried, b) {
				continue
			}
			if n := b.busy.Load(); least < 0 || n < least {
				least = n
			}
		}
		for i := range n {
			j := (p.next + i) % n
			b := p.ready[j]
			if isTried(tried, b) || b.busy.Load() > least {
				continue
			}
			p.next = (j + 1) % n
			return b
		}
		return nil
	}
}

func isTried(tried []*backend, b *backend) bool {
	for _, t := range tried {
		if t == b {
			return true
		}
	}
	return false
}

// pick is IPHash's choice as a pure function: the index in keys of the backend
// that client goes to, or -1 when keys is empty. It is rendezvous hashing: each
// (key, client) pair gets a pseudo-random score and the highest score wins, so
// removing a key moves only the clients that were on it.
func pick(keys []string, client netip.Addr) int {
	h := addrHash(client)
	best := -1
	var bestScore uint64
	for i, k := range keys {
		if s := score(keyHash(k), h); best < 0 || beats(s, k, bestScore, keys[best]) {
			best, bestScore = i, s
		}
	}
	return best
}

// beats orders rendezvous candidates: higher score first, then lower key, so the
// result does not depend on the order candidates are seen in.
func beats(s uint64, key string, bestScore uint64, bestKey string) bool {
	return s > bestScore || s == bestScore && key < bestKey
}

// clientAddr is the IP of a connection's remote address (not its port), with
// IPv4-mapped IPv6 addresses unmapped; the zero Addr when there is none.
func clientAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// keyHash is FNV-1a of key, mixed.
func keyHash(key string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return mix(h)
}

func addrHash(a netip.Addr) uint64 {
	b := a.Unmap().As16()
	return mix(binary.BigEndian.Uint64(b[:8]) ^ mix(binary.BigEndian.Uint64(b[8:])))
}

// score is the rendezvous weight of a backend for a client.
func score(key, client uint64) uint64 {
	return mix(key ^ client)
}

// mix is MurmurHash3's 64-bit finalizer: a bijection with full avalanche.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
