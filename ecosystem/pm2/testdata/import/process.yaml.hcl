# Imported from process.yaml by eco import.
# Settings eco has no equivalent for are kept as comments that say why. Relative paths are
# relative to this file's folder.

app "api-app" {
  script = "./api.js"
  env = {
    PORT = 3000
  }
  instances = 4
  # PM2's cluster mode: eco binds port 3000 and shares it among the instances; the app's
  # listen(3000) works unchanged.
  exec_mode = "cluster"
}

app "worker" {
  script = "./worker.js"
  env = {
    NODE_ENV = "development"
  }
  env_production = {
    NODE_ENV = "production"
  }
  watch = true
}
