# Imported from dump.pm2 by eco import.
# pm2 save records each process's state and its shell's whole environment: the state (status,
# restarts, uptime, ...) and the shell's variables (PATH, HOME, ...) are left out; eco's apps
# inherit the daemon's environment.
# Settings eco has no equivalent for are kept as comments that say why. Relative paths are
# relative to this file's folder.

app "api" {
  script = "/srv/shop/server.js"
  args   = ["--verbose"]
  cwd    = "/srv/shop"
  env = {
    NODE_ENV = "production"
    PORT     = "3000"
  }
  instances = 2
  # PM2's cluster mode: eco binds port 3000 and shares it among the instances; the app's
  # listen(3000) works unchanged.
  exec_mode          = "cluster"
  max_memory_restart = "300M"
  merge_logs         = true
}

app "cron-job" {
  script = "/srv/shop/bin/report.sh"
  cwd    = "/srv/shop"
  env = {
    REPORT_TO = "ops@example.com"
  }
  autorestart  = false
  cron_restart = "0 6 * * *"
}
