# A probe checks exactly one thing, with sane settings.
app "none" {
  command = ["./none"]
  readiness_probe { # error: Invalid readiness_probe
    interval = "1s"
  }
}

app "two" {
  command = ["./two"]
  port    = 8080
  liveness_probe { # error: Invalid liveness_probe
    http = "/health"
    tcp  = "127.0.0.1:8080"
  }
}

app "bad_values" {
  command = ["./bad"]
  readiness_probe {
    http              = "ftp://example/health" # error: Invalid readiness_probe.http
    interval          = 0 # error: Invalid readiness_probe.interval
    failure_threshold = 0 # error: Invalid readiness_probe.failure_threshold
    timeout           = "soon" # error: Invalid duration
  }
  liveness_probe {
    tcp   = "localhost" # error: Invalid liveness_probe.tcp
    every = "1s" # error: Unsupported attribute
  }
}

app "no_port" {
  command = ["./np"]
  readiness_probe {
    http = "/health" # error: Invalid readiness_probe.http
  }
  liveness_probe {
    exec = [""] # error: Invalid liveness_probe.exec
  }
  liveness_probe { # error: Duplicate liveness_probe block
    exec = ["true"]
  }
}
