// Scale measures eco's daemon with many instances: 200 apps of 5 bash instances by default, the
// time to apply them, the time of `eco ls`, and the daemon's idle CPU, RSS, threads and fds.
// Run it with `go run ./bench/scale`.
package main
