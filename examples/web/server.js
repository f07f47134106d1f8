// A small HTTP server using only Node's standard library, written the way eco runs it:
// it listens on the socket eco passes (LISTEN_FDS, kernel balance), else on PORT (its own
// loopback port behind eco's proxy), tells
// eco it is ready with process.send('ready'), and shuts down gracefully on SIGINT or on
// the "shutdown" message.
'use strict';
const http = require('http');

const instance = process.env.NODE_APP_INSTANCE || '0';
const port = Number(process.env.PORT || 3000);

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ pid: process.pid, instance, env: process.env.NODE_ENV, url: req.url }) + '\n');
  if (process.env.LOG_LEVEL !== 'warn') {
    console.log(`${req.method} ${req.url} -> 200`);
  }
});

const target = process.env.LISTEN_FDS ? { fd: 3 } : { port, host: process.env.HOST };
server.listen(target, () => {
  console.log(`web instance ${instance} (pid ${process.pid}) listening on ${process.env.LISTEN_FDS ? 'fd 3' : port}`);
  if (process.send) process.send('ready');
});

function shutdown(why) {
  console.log(`web instance ${instance}: ${why}, closing`);
  server.close(() => process.exit(0));
  // Idle keep-alive connections would hold close() open; end them.
  if (server.closeIdleConnections) server.closeIdleConnections();
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('message', (msg) => {
  if (msg === 'shutdown') shutdown('shutdown message');
});
