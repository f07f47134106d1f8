// Command survive SIGKILLs the eco daemon and PM2's under load and measures what is lost: failed requests, time until managed again, log lines and restarted instances.
package main
