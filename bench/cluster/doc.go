// Cluster benchmarks cluster mode: the tutorials' Express app with 2 instances sharing one
// port under eco (balance = "kernel" and "round_robin"), Node's cluster module (a primary
// forking 2 workers) and PM2 (-i 2), with a single process for reference. wrk on loopback
// measures the throughput, the failed requests during 3 reloads, and the failed requests while
// instances crash at random. Run it with `go run ./bench/cluster`.
package main
