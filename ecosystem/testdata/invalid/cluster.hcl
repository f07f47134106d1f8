app "no-port" {
  script    = "a.js"
  exec_mode = "cluster" # error: Missing port for cluster mode
}

app "bad-port" {
  script    = "a.js"
  exec_mode = "cluster"
  port      = 70000 # error: Invalid port
}

app "one" {
  script    = "a.js"
  exec_mode = "cluster"
  port      = 3000
}

app "two" {
  script    = "a.js"
  exec_mode = "cluster"
  port      = 3000 # error: Duplicate port
}

app "fork-balance" {
  script  = "a.js"
  balance = "least_conn" # warning: balance has no effect in fork mode
}

app "no-parallel" {
  script       = "a.js"
  max_parallel = 0 # error: Invalid max_parallel
}
