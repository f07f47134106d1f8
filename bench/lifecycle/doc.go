// Lifecycle benchmarks eco against PM2 side by side: CLI list latency, daemon RSS and the time
// to start N apps that each signal ready. Run it with `go run ./bench/lifecycle`.
package main
