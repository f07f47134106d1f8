// Memory benchmarks max_memory_restart in eco against PM2 side by side: a Node app that grows
// about 50 MiB/s under a limit of 200M, the time from the app crossing the limit to its
// replacement, and the peak RSS it reached. Run it with `go run ./bench/memory`.
package main
