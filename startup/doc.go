// Package startup writes, enables and removes the systemd unit that runs eco's keeper and daemon at boot (eco startup, eco unstartup).
package startup
