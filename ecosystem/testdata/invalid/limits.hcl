app "many" {
  script    = "a.js"
  instances = 100000 # error: Too many instances
}

app "raised-too-little" {
  script        = "a.js"
  instances     = 300 # error: Too many instances
  max_instances = 200
}

app "zero-limit" {
  script        = "a.js"
  max_instances = 0 # error: Invalid max_instances
}

app "a..b" { # error: Invalid app name
  script = "a.js"
}

app "-dash" { # error: Invalid app name
  script = "a.js"
}

app "neg" {
  script     = "a.js"
  kill_timeout = "-5s" # error: Invalid duration
  port = 0
}

app "empty-program" {
  command = [""] # error: Missing script or command
  stop_signal = "SIGBOGUS" # error: Invalid signal
}

app "tiny-logs" {
  script = "a.js"
  log_rotate {
    max_size = "1K" # error: log_rotate.max_size too small
  }
}

# max_instances has a ceiling: a billion slots ran the daemon out of memory.
app "raised-too-far" {
  script        = "a.js"
  instances     = 1000000000 # error: Too many instances
  max_instances = 1000000000 # error: Invalid max_instances
}

# increment_var = "PORT" would hand instances 6 to 19 ports over 65535.
app "ports-overflow" {
  script        = "a.js"
  instances     = 20
  port          = 65530
  increment_var = "PORT" # error: Invalid increment_var
}

app "env-ports-overflow" {
  script        = "a.js"
  instances     = 2
  env           = { PORT = 65535 }
  increment_var = "PORT" # error: Invalid increment_var
}
