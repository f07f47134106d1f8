// Package testwait is the one way eco's tests wait for a condition: poll it, with a deadline.
package testwait
