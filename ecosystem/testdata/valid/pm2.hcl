# A PM2 ecosystem.config.js app, transcribed to HCL as a PM2 user would:
#
#   module.exports = { apps: [{
#     name: "api", script: "./server.js", instances: "max", exec_mode: "cluster",
#     env: { NODE_ENV: "production", PORT: 3000 }, max_memory_restart: "1G",
#     error_file: "./logs/api-err.log", out_file: "./logs/api-out.log",
#     listen_timeout: 5000, wait_ready: true,
#   }] }
project = "shop"

app "api" {
  script             = "./server.js"
  instances          = "max"
  exec_mode          = "cluster_mode"
  env                = { NODE_ENV = "production", PORT = 3000 }
  max_memory_restart = "1G"
  error_file         = "./logs/api-err.log"
  out_file           = "./logs/api-out.log"
  listen_timeout     = 5000
  wait_ready         = true
}
