app "both" {
  script  = "a.js"
  command = ["./a"] # error: Conflicting script and command
}

app "neither" { # error: Missing script or command
  instances = 2
}

app "empty" {
  command = [] # error: Missing script or command
}

app "all" { # error: Invalid app name
  script = "a.js"
}
