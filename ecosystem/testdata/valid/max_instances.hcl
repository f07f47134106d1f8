app "fleet" {
  script        = "worker.js"
  instances     = 250
  max_instances = 250
}
