# options: --env production
app "web" {
  script = "web.js"
  env = {
    NODE_ENV = "development"
    DEBUG    = "app:*"
    LEVEL    = "debug"
  }
  env_production = {
    NODE_ENV = "production"
    DEBUG    = null # removed from the environment in production
  }
  env_staging = { NODE_ENV = "staging" }
}

app "other" {
  script = "other.js"
}
