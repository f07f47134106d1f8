# Empty lists and maps mean "not set": they decode like the attributes left out, so saving this
# file again, or sending it to the daemon as JSON, plans no change.
app "empty-lists" {
  script          = "server.js"
  args            = []
  node_args       = []
  env             = {}
  watch           = []
  ignore_watch    = []
  stop_exit_codes = []
}

app "empty-command-args" {
  command      = ["./bin/worker"]
  args         = []
  env          = { ONLY = null }
  ignore_watch = []
}

app "watching" {
  script       = "server.js"
  watch        = true
  ignore_watch = []
  env          = {}
}
