// Package poll watches many descriptors with one epoll set and one goroutine, for the daemon's thousands of mostly idle pipes, sockets and pidfds.
package poll
