// Package proxy is cluster mode's TCP load balancer: it accepts on the public port and forwards each connection to a ready instance's loopback port.
package proxy
