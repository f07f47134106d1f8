// Package settings reads the daemon's own settings, ECO_HOME/daemon.hcl: the loopback listeners for metrics and the GitOps webhook, checked with positions like an ecosystem file.
package settings
