# Imported from environments.json by eco import.
# Settings eco has no equivalent for are kept as comments that say why. Relative paths are
# relative to this file's folder.

app "app1" {
  script = "./app.js"
  env = {
    NODE_ENV = "development"
  }
  env_development = {
    NODE_ENV = "development"
  }
  env_production = {
    NODE_ENV = "production"
  }
}
