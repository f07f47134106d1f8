app "a" {
  script        = "a.js"
  kill_timeout  = -5 # error: Invalid duration
  min_uptime    = "-1s" # error: Invalid duration
  restart_delay = "soon" # error: Invalid duration
  cron_restart  = "every day" # error: Invalid cron expression
  stop_signal   = "SIGNOPE" # error: Invalid signal
  max_memory_restart = -1 # error: Invalid size
  log_rotate {
    max_size = "10 parsecs" # error: Invalid size
    max_age  = true # error: Incorrect attribute value type
  }
}
