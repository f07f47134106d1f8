project = "y" # error: Duplicate project
app "web" { # error: Duplicate app
  script = "web.js"
}
