// Package control is the plumbing between the eco CLI and its daemon: home paths, the daemon lock, the unix-socket listener and HTTP+JSON client, detached daemon start, and atomic file writes.
package control
