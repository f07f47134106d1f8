# depends_on names apps of the same configuration, once each, and makes no cycle.
app "web" {
  command    = ["./web"]
  depends_on = ["api", "dbb", "api"] # error: Unknown dependency | error: Duplicate dependency
}

app "api" {
  command    = ["./api"]
  depends_on = ["worker"] # error: Dependency cycle
}

app "worker" {
  command    = ["./worker"]
  depends_on = "web"
}

app "self" {
  command    = ["./self"]
  depends_on = ["self"] # error: Dependency cycle
}

app "db" {
  command   = ["./db"]
  kill_timeout = "never" # error: Invalid duration
}

app "uses_db" {
  command    = ["./uses"]
  depends_on = ["db"]
}
