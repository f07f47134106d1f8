# options: --env prodution
# error@none: Unknown profile
app "a" {
  script         = "a.js"
  env_production = { NODE_ENV = "production" }
}
