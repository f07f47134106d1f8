# The smallest useful file: one app, every default.
app "worker" {
  script = "worker.js"
}
