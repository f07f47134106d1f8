// Package keeper holds what must outlive the eco daemon: descriptors, children and their exit statuses, and the daemon itself.
package keeper
