// Package proxy is cluster mode's TCP load balancer: it accepts on the public port and forwards each connection to a ready instance's loopback port, moving HTTP connections to another instance when theirs dies and that is safe (relay.go).
package proxy
