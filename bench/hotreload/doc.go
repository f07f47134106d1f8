// Hotreload benchmarks eco's hot reconcile: the time from saving a new version of the applied
// ecosystem file (one env value changed) to the app running online with the new value. For
// reference it times PM2's fastest equivalent, the manual `pm2 startOrReload --update-env`
// after the same edit of ecosystem.config.js. Run it with `go run ./bench/hotreload`.
package main
