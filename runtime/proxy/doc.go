// Package proxy is cluster mode's TCP load balancer: it accepts on the public port and forwards each connection to a ready instance's loopback port, moving HTTP connections to another instance when theirs dies and that is safe (relay.go); Serve runs it as a process of its own, controlled over a unix socket (wire.go), so that it outlives the daemon.
package proxy
