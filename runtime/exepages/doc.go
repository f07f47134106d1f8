// Package exepages drops a process's mappings of its own executable's read-only pages, which the start-up of a Go binary with many packages leaves mapped.
package exepages
