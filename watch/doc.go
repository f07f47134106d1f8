// Package watch turns file-system events on files and folders into debounced Change events.
package watch
