// Proxycpu measures the CPU an `eco __proxy` process spends per HTTP request: the process runs
// as the daemon runs it, in front of two small HTTP backends, under a closed-loop load of
// kept-alive connections, and its user+system time is read from /proc. Run it with
// `go run ./bench/proxycpu`.
package main
