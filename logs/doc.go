// Package logs captures instances' output into lines and writes them to shared, rotating files.
package logs
