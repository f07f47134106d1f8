# Imported from cluster.config.js by eco import.
# The file is JavaScript: it was run once, with node, and what module.exports held then is written
# here (values read from process.env included).
# Settings eco has no equivalent for are kept as comments that say why. Relative paths are
# relative to this file's folder.

app "api" {
  script = "./server.js"
  env = {
    PORT = 3000
  }
  instances = "max"
  # PM2's cluster mode: eco binds port 3000 and shares it among the instances; the app's
  # listen(3000) works unchanged.
  exec_mode = "cluster"
  # PM2 takes an instance as online when listen_timeout passes without process.send('ready'). This
  # eco has no ready_on_timeout yet: an instance that does not say it is ready errors.
  wait_ready     = true
  listen_timeout = "10s"
  kill_timeout   = "3s"
}

app "jobs" {
  # PM2 runs a Node app with instances in cluster mode: its instances share the port the app listens
  # on. eco binds that port itself and shares it, so it must know it: set port = <the port> and
  # exec_mode = "cluster". Until then the instances run in fork mode.
  script    = "./jobs.js"
  instances = 2
  # PM2's disable_logs = true.
  out_file   = "/dev/null"
  error_file = "/dev/null"
  # PM2's time = true: the time before each line.
  log_date_format = "YYYY-MM-DDTHH:mm:ss"
}
