// Package gitsource fetches a git repository's ecosystem files for the daemon: it resolves a ref on the remote and clones that revision (go-git, pure Go: file://, http(s) and ssh), with credentials from a key file, a token file or an environment variable.
package gitsource
