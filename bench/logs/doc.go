// Logs benchmarks log throughput in eco against PM2 side by side: a Node app writes a million
// numbered lines of 90 bytes to stdout as fast as stdout takes them, with eco rotating its file
// at 10MB. It measures lines per second into the files, counts every line across the rotated
// files (lost, duplicated, out of order) and the daemon's CPU time per 100k lines. Run it with
// `go run ./bench/logs`.
package main
