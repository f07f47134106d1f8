# Five different mistakes, all reported in one run.
app "api" {
  script         = "server.js"
  instancs       = 4 # error: Unsupported attribute
  exec_mode      = "cluster" # error: Missing port for cluster mode
  listen_timeout = "5 seconds" # error: Invalid duration
  max_memory_restart = "1 gigabyte" # error: Invalid size
}

app "worker" { # error: Missing script or command
  autorestart = true
}
