app "spaces" {
  script = "a.js"
  image  = "shop/api 1.4" # error: Invalid image
}

app "empty" {
  script = "a.js"
  image  = "" # error: Invalid image
}

app "fine" {
  script = "a.js"
  image  = "registry.example.com:5000/shop/api:1.4@sha256:0123abcd"
}
