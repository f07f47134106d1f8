// Package schema is the one source of the ecosystem file's attributes: names, types, defaults,
// docs and change classes. The decoder, docs/reference.md and the JSON schema all come from it.
package schema
