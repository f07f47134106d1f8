// The cluster tutorial's file: every CPU, one port, ready when the app says so.
module.exports = {
  apps: [{
    name: "api",
    script: "./server.js",
    instances: "max",
    exec_mode: "cluster",
    wait_ready: true,
    listen_timeout: 10000,
    kill_timeout: 3000,
    env: { PORT: 3000 },
  }, {
    name: "jobs",
    script: "./jobs.js",
    instances: 2,
    time: true,
    disable_logs: true,
    cron_restart: 0,
  }],
};
