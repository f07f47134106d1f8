package proxy

import (
	"net"
	"net/netip"
	"slices"
	"testing"
)

// clients returns n distinct IPv4 client addresses.
func clients(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	return out
}

func TestPick(t *testing.T) {
	keys := []string{"web[0]#1", "web[1]#1", "web[2]#1", "web[3]#1"}
	ips := clients(4000)

	t.Run("no keys", func(t *testing.T) {
		if got := pick(nil, ips[0]); got != -1 {
			t.Errorf("pick(nil) = %d, want -1", got)
		}
	})

	t.Run("independent of key order", func(t *testing.T) {
		rev := slices.Clone(keys)
		slices.Reverse(rev)
		for _, ip := range ips[:200] {
			if a, b := keys[pick(keys, ip)], rev[pick(rev, ip)]; a != b {
				t.Fatalf("%v: %s in key order, %s in reverse", ip, a, b)
			}
		}
	})

	t.Run("spreads clients evenly", func(t *testing.T) {
		count := make(map[string]int)
		for _, ip := range ips {
			count[keys[pick(keys, ip)]]++
		}
		// 1000 each on average; pick is deterministic, so this bound is not flaky.
		for _, k := range keys {
			if c := count[k]; c < 800 || c > 1200 {
				t.Errorf("%s got %d of %d clients: %v", k, c, len(ips), count)
			}
		}
	})

	t.Run("removing a key moves only its clients", func(t *testing.T) {
		left := []string{keys[0], keys[1], keys[3]}
		moved := 0
		for _, ip := range ips {
			before, after := keys[pick(keys, ip)], left[pick(left, ip)]
			if before != keys[2] && after != before {
				t.Fatalf("%v moved from %s to %s though %s stayed", ip, before, after, before)
			}
			if before == keys[2] {
				moved++
			}
		}
		if moved == 0 {
			t.Fatal("no client was on the removed key")
		}
	})

	t.Run("adding a key moves clients only to it", func(t *testing.T) {
		more := append(slices.Clone(keys), "web[4]#1")
		for _, ip := range ips {
			before, after := keys[pick(keys, ip)], more[pick(more, ip)]
			if after != before && after != "web[4]#1" {
				t.Fatalf("%v moved from %s to %s", ip, before, after)
			}
		}
	})

	t.Run("IPv4-mapped IPv6 is the IPv4 client", func(t *testing.T) {
		for _, ip := range ips[:200] {
			mapped := netip.AddrFrom16(ip.As16())
			if a, b := pick(keys, ip), pick(keys, mapped); a != b {
				t.Fatalf("%v: %d, mapped %v: %d", ip, a, mapped, b)
			}
		}
	})
}

func TestClientAddr(t *testing.T) {
	want := netip.MustParseAddr("192.0.2.7")
	for _, a := range []net.Addr{
		&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1234}, // 16-byte form of an IPv4 address
		&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7).To4(), Port: 80},
		&net.UDPAddr{IP: net.ParseIP("192.0.2.7"), Port: 9}, // not TCP: parsed from String
	} {
		if got := clientAddr(a); got != want {
			t.Errorf("clientAddr(%v) = %v, want %v", a, got, want)
		}
	}
	if got := clientAddr(nil); got.IsValid() {
		t.Errorf("clientAddr(nil) = %v, want the zero Addr", got)
	}
}

// TestProxy_pickLocked checks the three modes on the picking code alone.
func TestProxy_pickLocked(t *testing.T) {
	newProxy := func(mode Mode, keys ...string) *Proxy {
		p := New(nil, mode, nil)
		for _, k := range keys {
			p.Add(k, "127.0.0.1:1")
		}
		return p
	}
	next := func(p *Proxy, client netip.Addr, tried ...*backend) string {
		p.mu.Lock()
		defer p.mu.Unlock()
		b := p.pickLocked(addrHash(client), tried)
		if b == nil {
			return ""
		}
		return b.key
	}
	ip := netip.MustParseAddr("127.0.0.1")

	t.Run("ip_hash agrees with pick and falls back in score order", func(t *testing.T) {
		keys := []string{"a", "b", "c", "d"}
		p := newProxy(IPHash, keys...)
		for _, c := range clients(300) {
			rest := slices.Clone(keys)
			var tried []*backend
			for len(rest) > 0 {
				want := rest[pick(rest, c)]
				if got := next(p, c, tried...); got != want {
					t.Fatalf("%v after %d failed dials: got %s, want %s", c, len(tried), got, want)
				}
				tried = append(tried, p.backends[want])
				rest = slices.DeleteFunc(rest, func(k string) bool { return k == want })
			}
			if got := next(p, c, tried...); got != "" {
				t.Fatalf("%v: every backend tried, still got %s", c, got)
			}
		}
	})

	t.Run("round_robin skips tried backends", func(t *testing.T) {
		p := newProxy(RoundRobin, "a", "b", "c")
		var got []string
		for range 4 {
			got = append(got, next(p, ip))
		}
		// b is due, but its dial failed: c, then the rotation goes on from c.
		got = append(got, next(p, ip, p.backends["b"]), next(p, ip))
		if want := []string{"a", "b", "c", "a", "c", "a"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})

	t.Run("round_robin skips busy backends while one is idle", func(t *testing.T) {
		p := newProxy(RoundRobin, "a", "b", "c")
		p.backends["a"].busy.Store(1)
		got := []string{next(p, ip), next(p, ip), next(p, ip)}
		if want := []string{"b", "c", "b"}; !slices.Equal(got, want) {
			t.Errorf("a busy: got %v, want %v", got, want)
		}
		p.backends["b"].busy.Store(1)
		p.backends["c"].busy.Store(2)
		got = []string{next(p, ip), next(p, ip), next(p, ip)}
		if want := []string{"a", "b", "a"}; !slices.Equal(got, want) {
			t.Errorf("all busy: got %v, want the least busy in turn %v", got, want)
		}
		if got := next(p, ip, p.backends["a"], p.backends["b"]); got != "c" {
			t.Errorf("a and b tried: got %s, want c however busy", got)
		}
	})

	t.Run("least_conn breaks ties round-robin", func(t *testing.T) {
		p := newProxy(LeastConn, "a", "b", "c")
		var got []string
		for range 6 {
			k := next(p, ip)
			p.backends[k].active++
			got = append(got, k)
		}
		if want := []string{"a", "b", "c", "a", "b", "c"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
		p.backends["b"].active -= 2
		if got := next(p, ip); got != "b" {
			t.Errorf("with b idle got %s, want b", got)
		}
	})

	t.Run("unknown mode is round_robin", func(t *testing.T) {
		p := newProxy(Mode("nope"), "a", "b")
		if got := []string{next(p, ip), next(p, ip), next(p, ip)}; !slices.Equal(got, []string{"a", "b", "a"}) {
			t.Errorf("got %v, want [a b a]", got)
		}
	})
}
