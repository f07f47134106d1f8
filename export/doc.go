// Package export turns a resolved ecosystem Config into other engines' objects (Kubernetes, Nomad, systemd) and reports what does not map exactly.
package export
