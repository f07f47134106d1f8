# Imported from simple.config.js by eco import.
# The file is JavaScript: it was run once, with node, and what module.exports held then is written
# here (values read from process.env included).
# Settings eco has no equivalent for are kept as comments that say why. Relative paths are
# relative to this file's folder.

app "app1" {
  script = "./app.js"
}
