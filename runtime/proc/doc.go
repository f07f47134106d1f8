// Package proc starts, signals, stops and reaps the processes eco supervises, and speaks Node's IPC channel and sd_notify with them.
package proc
