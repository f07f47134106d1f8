project = "x"
app "web" {
  script = "web.js"
}
