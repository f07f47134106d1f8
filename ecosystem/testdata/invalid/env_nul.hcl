# A NUL byte in an environment value is refused in every env, also in a profile not chosen.
app "api" {
  script         = "server.js"
  env            = { A = "x\u0000y" } # error: Invalid environment variable
  env_production = { B = "x\u0000y" } # error: Invalid environment variable
}
