// Package runtime is the daemon: control API, reconciler, one supervisor per instance.
package runtime
