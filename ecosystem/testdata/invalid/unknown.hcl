projet = "x" # error: Unsupported attribute

app "a" { # error: Missing script or command
  scrip  = "a.js" # error: Unsupported attribute
  name   = "a" # error: Unsupported attribute
  log_rotate {
    max_sise = "10M" # error: Unsupported attribute
  }
  log_rotat { # error: Unsupported block type
  }
}

apps "b" { # error: Unsupported block type
}
