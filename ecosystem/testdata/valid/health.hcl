# A migration that runs once before the web app, and probes of every form.
app "migrate" {
  command     = ["./migrate", "up"]
  autorestart = false
}

app "db" {
  command = ["./db"]
  readiness_probe {
    tcp      = "127.0.0.1:5432"
    interval = "2s"
  }
  liveness_probe {
    exec              = "./db-check --quick"
    timeout           = "3s"
    failure_threshold = 5
  }
}

app "web" {
  command    = ["./web"]
  port       = 8080
  depends_on = ["db", "migrate"]
  readiness_probe {
    http              = "/ready"
    initial_delay     = 500
    success_threshold = 2
  }
  liveness_probe {
    http = "http://127.0.0.1:8080/health"
  }
}
