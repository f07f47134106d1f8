app "a" {
  script = "a.js"
  env = { A = } # error: Invalid expression
}
