# An ecosystem file for eco: a clustered web app, the migration that runs before it, and a
# background worker.
#
#   eco validate examples/ecosystem.hcl    check it, with every problem's position
#   eco config examples/ecosystem.hcl      see what it resolves to ("max" -> a number)
#   eco apply examples/ecosystem.hcl       run it
#
# Try `--env production` and `--var port=8080`. Every attribute is described in
# docs/reference.md.

project = "examples"

variable "port" {
  type        = number
  default     = 3000
  description = "The public port of the web app."
}

locals {
  common_env = {
    LOG_LEVEL = "info"
  }
}

# A one-shot job (autorestart = false): the database migration, run once per apply of a
# changed file. web depends on it, so web starts only once it has exited 0.
app "migrate" {
  script      = "migrate.sh"
  cwd         = "./migrate"
  autorestart = false
  out_file    = "./logs/migrate.out.log"
  error_file  = "./logs/migrate.err.log"
}

# A Node HTTP server (standard library only), one instance per CPU behind one port.
# eco binds the port once and its proxy spreads connections over the instances (each
# listens on its own loopback PORT), so reloads and restarts never refuse or drop a
# request. balance = "kernel" passes the socket itself to every instance instead (fd 3,
# LISTEN_FDS); "least_conn" and "ip_hash" are the proxy's other modes.
app "web" {
  script    = "server.js"
  cwd       = "./web"
  instances = "max"
  exec_mode = "cluster"
  port      = var.port
  balance   = "round_robin"

  env = merge(local.common_env, {
    NODE_ENV = "development"
  })
  env_production = {
    NODE_ENV  = "production"
    LOG_LEVEL = "warn"
  }

  # Starts once the migration is done.
  depends_on = ["migrate"]

  # server.js calls process.send('ready') once it listens; its /health must answer too.
  wait_ready     = true
  listen_timeout = "5s"
  kill_timeout   = "3s"

  # An instance whose /health fails 3 times in a row (every 5s) gets no new connections
  # until it answers again; one that stops answering for 30s is restarted, a new one first.
  readiness_probe {
    http     = "/health"
    interval = "5s"
  }
  liveness_probe {
    http              = "/health"
    interval          = "10s"
    timeout           = "2s"
    failure_threshold = 3
  }

  max_memory_restart = "1G"
  out_file           = "./logs/web.out.log"
  error_file         = "./logs/web.err.log"
  log_date_format    = "2006-01-02T15:04:05.000Z07:00"

  log_rotate {
    max_size  = "10MB"
    max_files = 5
  }
}

# A shell worker in fork mode that restarts with backoff when it fails.
app "worker" {
  script                    = "worker.sh"
  cwd                       = "./worker"
  env                       = merge(local.common_env, { INTERVAL_SECONDS = 5 })
  exp_backoff_restart_delay = 100
  max_memory_restart        = "200M"
  out_file                  = "./logs/worker.out.log"
  error_file                = "./logs/worker.err.log"
}
