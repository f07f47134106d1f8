# A second file of the same configuration sees the other file's variables.
app "worker" {
  script = "worker.py"
  env    = { WEB_PORT = var.port }
}
