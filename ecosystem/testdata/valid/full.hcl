# Every attribute, set to something other than its default.
project      = "full"
watch_config = false

app "api" {
  script      = "server.mjs"
  args        = "--color 'two words' \"and \\\"quoted\\\"\""
  interpreter = "/usr/local/bin/node"
  node_args   = ["--max-old-space-size=512"]
  cwd         = "./api"
  env         = { NODE_ENV = "production", WORKERS = 2, DEBUG = false, PORT = 4000 }
  image       = "registry.example.com/full/api:1.0"

  instances     = 3
  exec_mode     = "cluster"
  port          = 8080
  balance       = "ip_hash"
  instance_var  = "INSTANCE_ID"
  increment_var = "PORT"

  wait_ready            = true
  listen_timeout        = "10s"
  kill_timeout          = 5000
  stop_signal           = "term"
  shutdown_with_message = true

  autorestart               = true
  max_restarts              = 5
  min_uptime                = "2s"
  restart_delay             = 250
  exp_backoff_restart_delay = 100
  stop_exit_codes           = [0, 3]
  cron_restart              = "0 3 * * *"
  max_memory_restart        = "512M"

  watch        = ["src", "config"]
  ignore_watch = "*.tmp"
  watch_delay  = "1.5s"

  out_file        = "logs/api.out.log"
  error_file      = "null"
  log_file        = "/var/log/api.log"
  merge_logs      = true
  log_date_format = "YYYY-MM-DD HH:mm:ss"
  log_type        = "json"

  log_rotate {
    max_size  = "10MB"
    max_files = 3
    max_age   = "7d"
    compress  = true
  }
}

app "cron-job" {
  command     = ["./bin/report", "--all"]
  autorestart = false
  watch       = true
  cron_restart = "@hourly"
}

app "py" {
  script = "tasks/run.py"
  port   = 9000
}

app "sh" {
  script = "/opt/run.sh"
}

app "bin" {
  script      = "bin/server"
  interpreter = "none"
}
