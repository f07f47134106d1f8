# With 4 CPUs: "max" and 0 give 4, -1 gives 3, -10 gives 1.
app "max" {
  script    = "a.js"
  instances = "max"
}

app "zero" {
  script    = "a.js"
  instances = 0
}

app "minus-one" {
  script    = "a.js"
  instances = -1
}

app "minus-ten" {
  script    = "a.js"
  instances = "-10"
}
