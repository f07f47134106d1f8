// Package preload embeds the Node.js preload script that lets unmodified Node apps cluster under eco.
package preload
