source "git" { # error: Missing url
  ref      = "main"
  interval = "10ms" # error: Invalid interval
  path     = "../outside" # error: Invalid path
  branch   = "main" # error: Unsupported attribute
}

source "svn" { # error: Invalid source
}

app "web" { # error: App beside a source block
  script = "a.js"
}
