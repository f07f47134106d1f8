// Package ecosystem turns HCL ecosystem files into a checked, typed Config.
package ecosystem
