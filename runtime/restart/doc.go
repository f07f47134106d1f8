// Package restart is the pure restart policy: given an exit, it decides whether, when and why an instance restarts.
package restart
