// Proxycpu measures the CPU an `eco __proxy` process spends per HTTP request: the process runs
// as the daemon runs it, in front of two small HTTP backends, under a closed-loop load of
// kept-alive connections, and its user+system time is read from /proc, with its threads'
// context switches (its wake-ups) per request. Run it with `go run ./bench/proxycpu`.
//
// Each round then measures, the same way, the least relay a Go program can be (leastSrc: it
// copies bytes both ways with io.Copy, a connection pinned to one backend, on one P as eco's
// proxy runs): the cost of being in the data path with Go's poller, without HTTP, balancing per
// request or replay. -least=false leaves it out.
//
// The profiles in this folder (profile-before.txt, profile-after.txt) are the top of the
// proxy process's CPU profile in the last of 3 rounds, made with
//
//	go build -o /tmp/eco ./cmd/eco
//	go run ./bench/proxycpu -eco /tmp/eco -cpuprofile /tmp/px.prof
//	go tool pprof -top -nodecount=30 /tmp/eco /tmp/px.prof
//
// "before" at the commit before the relay's fast path (reader.pump), "after" with it.
package main
