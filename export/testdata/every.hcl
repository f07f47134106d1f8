# Every attribute of eco, set to something other than its default, for the exports' golden
# files (go test ./export -update refreshes them).
project      = "every"
watch_config = false

variable "port" {
  default = 8080
}

app "api" {
  script      = "server.mjs"
  args        = "--color 'two words' \"and \\\"quoted\\\"\" 100% $HOME $(PORT)"
  interpreter = "node"
  node_args   = ["--max-old-space-size=512"]
  cwd         = "./api"
  env         = { NODE_ENV = "production", WORKERS = 2, DEBUG = false, METRICS_PORT = 9300, QUOTED = "say \"hi\"\n100%" }
  env_staging = { NODE_ENV = "staging" }
  image       = "registry.example.com/every/api:1.0"

  instances     = 3
  max_instances = 8
  exec_mode     = "cluster"
  port          = var.port
  balance       = "ip_hash"
  instance_var  = "INSTANCE_ID"
  increment_var = "METRICS_PORT"

  wait_ready            = true
  listen_timeout        = "10s"
  ready_on_timeout      = true
  kill_timeout          = 5500
  max_parallel          = 2
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
  memory_check_interval     = "2s"

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

  depends_on = ["report", "socket_app"]
  readiness_probe {
    http              = "/ready"
    interval          = "500ms"
    timeout           = "1.5s"
    initial_delay     = "2s"
    success_threshold = 2
    failure_threshold = 4
  }
  liveness_probe {
    tcp               = "127.0.0.1:8080"
    interval          = "20s"
    timeout           = "3s"
    initial_delay     = "5s"
    success_threshold = 2
    failure_threshold = 5
  }
}

app "socket_app" {
  script    = "app.py"
  instances = 2
  exec_mode = "cluster"
  port      = 9000
  balance   = "kernel"
  env       = { METRICS_PORT = 9100 }
  readiness_probe {
    http = "http://localhost:9000/ready"
  }
  liveness_probe {
    exec = ["/opt/check.sh", "--quick"]
  }
}

app "proxied" {
  script    = "web/server.js"
  instances = 2
  exec_mode = "cluster"
  port      = 7000
  balance   = "least_conn"
  depends_on = "api"
  readiness_probe {
    tcp = "127.0.0.1:6379"
  }
  liveness_probe {
    http = "https://status.example.com:8443/proxied?full=1"
  }
}

app "report" {
  command     = ["./bin/report", "--all"]
  autorestart = false
  watch       = true
  out_file    = "logs/report.log"
  log_rotate {
    max_files = 0
  }
}

app "outside" {
  script      = "/opt/run.sh"
  stop_signal = "SIGTERM"
  readiness_probe {
    exec = ["./check.sh"]
  }
}
