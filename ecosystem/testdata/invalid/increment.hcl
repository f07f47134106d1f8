app "a" {
  script        = "a.js"
  increment_var = "PORT" # error: Invalid increment_var
}

app "b" {
  script       = "a.js"
  instance_var = "1BAD" # error: Invalid instance_var
}
