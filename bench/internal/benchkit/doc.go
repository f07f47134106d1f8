// Package benchkit holds what the eco-against-PM2 benchmarks under bench/ share.
package benchkit
