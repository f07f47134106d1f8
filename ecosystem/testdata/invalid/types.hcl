app "a" {
  script      = ["a.js"] # error: Incorrect attribute value type
  instances   = true # error: Incorrect attribute value type
  env         = { A = { nested = 1 } } # error: Incorrect attribute value type
  autorestart = "perhaps" # error: Incorrect attribute value type
  port        = 3000.5 # error: Invalid number
  exec_mode   = "clustr" # error: Invalid value for exec_mode
  balance     = "random" # error: Invalid value for balance
  stop_exit_codes = [0, 300] # error: Invalid exit code
  max_restarts = -1 # error: Invalid number
}

app "b" {
  command     = ["./b"]
  interpreter = "node" # error: Conflicting interpreter and command
  watch       = "yes" # error: Incorrect attribute value type
  args        = "unclosed 'quote" # error: Invalid arguments
  env_prod    = "x" # error: Incorrect attribute value type
}
