# Imported from all-attributes.json by eco import.
# Settings eco has no equivalent for are kept as comments that say why. Relative paths are
# relative to this file's folder.
# PM2's deploy = {"production":{"host":"212.83.163.1","ref":"origin/master","user":"node"}}: eco
# has no deploy command; push the ecosystem file to git and point an eco git source at it.

# PM2's namespace of every app.
project = "backend"

app "my-api" {
  script      = "index.js"
  args        = ["-a", "13", "-b", "12"]
  interpreter = "/usr/bin/python"
  node_args   = ["--harmony"]
  cwd         = "/var/www/"
  env = {
    NODE_ENV = "development"
  }
  env_production = {
    NODE_ENV = "production"
  }
  port                      = 8000
  instance_var              = "INSTANCE_ID"
  increment_var             = "PORT"
  wait_ready                = false
  listen_timeout            = "8s"
  kill_timeout              = "1.6s"
  shutdown_with_message     = false
  autorestart               = true
  max_restarts              = 10
  min_uptime                = "10s"
  restart_delay             = "4s"
  exp_backoff_restart_delay = "100ms"
  stop_exit_codes           = [0]
  cron_restart              = "1 0 * * *"
  max_memory_restart        = "100M"
  watch                     = true
  ignore_watch              = ["[\\/\\\\]\\./", "node_modules"]
  out_file                  = "./logs/out.log"
  error_file                = "./logs/err.log"
  log_file                  = "./logs/combined.log"
  merge_logs                = true
  log_date_format           = "YYYY-MM-DD HH:mm Z"

  # PM2's pid_file = "./pids/my-api.pid": eco writes no pid files; eco ls --json and eco describe
  # show each instance's pid.
  # PM2's filter_env = ["REACT_"]: eco has no filter for the environment apps inherit; set the
  # variables an app needs in env.
  # PM2's source_map_support = true: eco injects no source-map-support module; node_args =
  # ["--enable-source-maps"] turns on Node's own.
  # PM2's vizion = false: eco reads no git metadata of the app's folder; the ecosystem file's git
  # source is what eco tracks.
  # PM2's force = true: eco runs each app once, under its unique name; there is no starting a script
  # a second time by force.
  # PM2's post_update = ["npm install","echo launching the app"]: eco pulls no updates from a
  # dashboard; a git source re-applies the file on each new commit.
  # PM2's treekill = false: eco always stops an instance's whole process group, and the children
  # that escaped it; there is no sparing them.
  # PM2's uid = "www": eco runs apps as the user who runs eco's daemon; run that user's own eco
  # (ECO_HOME is per user) to run apps as them.
}
