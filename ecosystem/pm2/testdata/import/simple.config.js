// pm2 init simple
module.exports = {
  apps : [{
    name   : "app1",
    script : "./app.js"
  }]
}
