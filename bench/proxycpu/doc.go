// Proxycpu measures the CPU an `eco __proxy` process spends per HTTP request: the process runs
// as the daemon runs it, in front of two small HTTP backends, under a closed-loop load of
// kept-alive connections, and its user+system time is read from /proc, with its threads'
// context switches (its wake-ups) per request. Run it with `go run ./bench/proxycpu`.
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
