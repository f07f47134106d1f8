// Soak crash-loops apps under one eco daemon thousands of times and checks that the daemon's
// goroutines, threads, fds and RSS, ECO_HOME/run and its cgroups stay flat. Run it with
// `go run ./bench/soak`.
package main
