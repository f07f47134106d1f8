app "node-script" {
  script    = "a.js"
  exec_mode = "cluster"
  port      = 3001
  balance   = "handoff"
}

app "node-command" {
  command   = ["/usr/bin/node", "a.js"]
  exec_mode = "cluster"
  port      = 3002
  balance   = "handoff"
}

app "python" {
  script    = "a.py"
  exec_mode = "cluster"
  port      = 3003
  balance   = "handoff" # error: Handoff needs a Node app
}

app "npm" {
  command   = ["npm", "start"]
  exec_mode = "cluster"
  port      = 3004
  balance   = "handoff" # error: Handoff needs a Node app
}

app "no-port" {
  script    = "a.js"
  exec_mode = "cluster" # error: Missing port for cluster mode
  balance   = "handoff"
}

app "typo" {
  script    = "a.js"
  exec_mode = "cluster"
  port      = 3005
  balance   = "hand_off" # error: Invalid value for balance
}
