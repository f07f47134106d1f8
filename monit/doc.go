// Package monit is eco monit: a terminal UI (bubbletea) of the daemon's apps and instances, their CPU and memory, restarts and states, and the selected app's live log, with keys to restart, reload and stop.
package monit
