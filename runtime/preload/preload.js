'use strict';
// eco's Node.js preload, loaded with `node --require` through NODE_OPTIONS.
// It is embedded in the eco binary (runtime/preload) and does nothing at all
// unless eco set ECO_CLUSTER_PORT with ECO_LISTEN_FD or ECO_BACKEND_PORT,
// ECO_GRACEFUL=1, or ECO_CLUSTER_WORKER.
//
//   ECO_CLUSTER_PORT      the app's public port: listen() calls for it are redirected
//   ECO_LISTEN_FD         kernel mode: listen on this inherited socket fd instead
//   ECO_BACKEND_PORT      proxy mode: listen on 127.0.0.1:<this port> instead
//   ECO_BACKEND_SOCKET    proxy mode: listen on this unix socket instead, for the
//                         cluster port and for ECO_BACKEND_PORT (PORT) alike: the
//                         proxy's hop to the app costs less than over TCP
//   ECO_GRACEFUL          "1": drain the servers and exit 0 on SIGINT/SIGTERM
//   ECO_GRACEFUL_TIMEOUT  drain bound in ms (default 10000), then die by the signal
//   ECO_HANDOFF           "1" (balance = "handoff"): the server that listens for the
//                         cluster port also takes the connections eco passes over
//                         the IPC channel, and reports its open connections back
//                         (see the handoff section below)
//   ECO_CLUSTER_WORKER    the instance's worker id (its number + 1): the process is
//                         one of the app's cluster workers, as a PM2 cluster
//                         instance is. cluster.isPrimary and isMaster are false,
//                         isWorker is true, cluster.worker has id, process, send(),
//                         'message' and 'disconnect' events, isConnected(), isDead(),
//                         disconnect(), kill() and destroy(); cluster.fork() throws, saying that eco runs the
//                         instances. So the tutorials' `if (cluster.isPrimary) fork()
//                         else listen()` runs one server per instance.
//
// Child Node processes inherit NODE_OPTIONS and these variables, so `npm start`
// (npm's node, then the app's node) is redirected in the process that listens.
// In kernel mode one process can serve one server at a time on the fd: a
// second listen() for the port fails (EEXIST, where it would fail with
// EADDRINUSE without eco), and closing the server closes the fd.
(function ecoPreload() {
  const env = process.env;
  const clusterPort = portNumber(env.ECO_CLUSTER_PORT);
  const listenFD = fdNumber(env.ECO_LISTEN_FD);
  const backendPort = portNumber(env.ECO_BACKEND_PORT);
  const backendSocket = listenFD < 0 && backendPort > 0 ? env.ECO_BACKEND_SOCKET || '' : '';
  const redirect = clusterPort > 0 && (listenFD >= 0 || backendPort > 0);
  const graceful = env.ECO_GRACEFUL === '1';
  const handoff = redirect && env.ECO_HANDOFF === '1' && typeof process.send === 'function';
  const workerId = positiveInt(env.ECO_CLUSTER_WORKER);
  if (workerId > 0) becomeWorker(workerId);
  if (!redirect && !graceful) return;

  const net = require('net');
  const mark = Symbol.for('eco.preload');
  const origListen = net.Server.prototype.listen;
  if (origListen[mark]) return; // another copy of the preload got here first

  // During a drain a kept-alive HTTP connection that is idle (no response
  // pending) is closed only once it was idle at one sweep and has read no
  // byte by the next: closing it at once would drop a request the client may
  // have just sent, while a client that is using the connection sends its
  // next request well within a sweep period and gets `Connection: close`.
  const IDLE_SWEEP_MS = 200;
  const timeoutMs = positiveInt(env.ECO_GRACEFUL_TIMEOUT) || 10000;

  const servers = new Set(); // servers that listened and have not closed
  const hooked = new WeakSet(); // servers whose connections we follow
  const sockets = new Set(); // open connections of HTTP servers
  let idleSince = new Map(); // socket -> bytesRead at the last sweep, if idle then
  let draining = false;
  let exiting = false;

  function listen(...args) {
    if (graceful) track(this);
    if (redirect) {
      const to = redirected(args);
      if (to !== null) {
        if (handoff) takeHandoffs(this);
        return origListen.apply(this, to);
      }
    }
    return origListen.apply(this, args);
  }
  listen[mark] = true;
  net.Server.prototype.listen = listen;

  const takeHandoffs = handoff ? startHandoff() : noop;

  if (graceful) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  // redirected returns the arguments for a listen() call that asks for the
  // cluster port, or null for any other call. The forms follow net's own
  // normalizeArgs: (port[, host][, backlog][, cb]) and (options[, cb]).
  function redirected(args) {
    const first = args[0];
    const cb = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : null;
    const backlogFromArgs = toNumber(args.length > 1 && args[1]) || toNumber(args.length > 2 && args[2]);
    let port;
    let backlog = backlogFromArgs;
    let signal;
    let exclusive;
    if (first !== null && typeof first === 'object') {
      if (first.handle != null || first._handle != null) return null;
      if (typeof first.fd === 'number' && first.fd >= 0) return null;
      port = first.port;
      backlog = first.backlog || backlogFromArgs;
      signal = first.signal;
      exclusive = first.exclusive;
    } else {
      port = first;
    }
    if (!isPort(port, clusterPort) && !((backendSocket || handoff) && isPort(port, backendPort))) return null;

    let options;
    if (listenFD >= 0) options = { fd: listenFD };
    else if (backendSocket) options = { path: backendSocket };
    else options = { port: backendPort, host: '127.0.0.1' };
    if (signal !== undefined) options.signal = signal;
    if (exclusive !== undefined) options.exclusive = exclusive;
    const out = [options];
    if (backlog) {
      if (listenFD >= 0) out.push(backlog); // net reads a fd listen's backlog from the arguments only
      else options.backlog = backlog;
    }
    if (cb !== null) out.push(cb);
    return out;
  }

  function track(server) {
    if (servers.has(server)) return;
    servers.add(server);
    server.once('close', () => {
      servers.delete(server);
      if (draining) exitWhenClosed();
    });
    if (hooked.has(server) || !('keepAliveTimeout' in server)) return; // only HTTP(S) servers
    hooked.add(server);
    // An HTTPS server speaks HTTP on the TLS socket, not on the raw one.
    const event = typeof server.addContext === 'function' ? 'secureConnection' : 'connection';
    server.on(event, (socket) => {
      sockets.add(socket);
      socket.once('close', () => {
        sockets.delete(socket);
        idleSince.delete(socket);
      });
    });
  }

  function onSignal(sig) {
    if (process.listeners(sig).some((l) => l !== onSignal)) {
      // The app handles this signal itself. Step aside for good, so its
      // handler sees what it would see without eco (signal-exit, for one,
      // re-raises only when its own listeners are the only ones).
      process.removeListener(sig, onSignal);
      return;
    }
    if (draining) die(sig); // a second signal ends the drain
    else drain(sig);
  }

  function drain(sig) {
    draining = true;
    setTimeout(die, timeoutMs, sig).unref();
    setInterval(sweep, IDLE_SWEEP_MS).unref();
    for (const server of servers) {
      if (hooked.has(server)) server.prependListener('request', closeAfter);
      stopAccepting(server);
    }
    sweep();
    exitWhenClosed();
  }

  // stopAccepting closes the listening socket. Node >= 19's http close() also
  // destroys every idle connection at once, which races with a request the
  // client may have just sent on it; the sweep closes idle ones instead.
  function stopAccepting(server) {
    const own = Object.prototype.hasOwnProperty.call(server, 'closeIdleConnections');
    const saved = server.closeIdleConnections;
    const shadow = typeof saved === 'function';
    if (shadow) server.closeIdleConnections = noop;
    try {
      server.close();
    } catch (_) {
      // close() of a server that never listened: 'close' still follows.
    } finally {
      if (shadow) {
        if (own) server.closeIdleConnections = saved;
        else delete server.closeIdleConnections;
      }
    }
  }

  // closeAfter runs first for every request during a drain: the response
  // carries `Connection: close` and Node ends the connection after it.
  function closeAfter(req, res) {
    res.shouldKeepAlive = false;
  }

  // sweep closes the HTTP connections that were idle at the previous sweep and
  // have read nothing since; a response not yet started is made the last.
  function sweep() {
    const next = new Map();
    for (const socket of sockets) {
      if (socket.destroyed) continue;
      const res = socket._httpMessage;
      if (res) {
        if (!res.headersSent) res.shouldKeepAlive = false;
        continue;
      }
      if (!socket.parser) continue; // upgraded (e.g. WebSocket): the app's protocol now
      const read = socket.bytesRead;
      if (idleSince.get(socket) === read) {
        socket.destroy();
        continue;
      }
      next.set(socket, read);
    }
    idleSince = next;
  }

  function exitWhenClosed() {
    if (exiting || servers.size > 0) return;
    exiting = true;
    setImmediate(() => process.exit(0)); // let the other 'close' listeners run first
  }

  // die ends the process as the signal would have without the preload.
  function die(sig) {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    process.exit(128 + (require('os').constants.signals[sig] || 0));
  }

  function noop() {}

  // ---- handoff (balance = "handoff") ------------------------------------
  // eco accepts on the public port and passes each connection's socket over
  // the IPC channel as Node's child_process passes a handle:
  // {"cmd":"NODE_HANDLE","type":"net.Native","msg":{"cmd":"NODE_ECO_CONN",
  // "e":<eco's epoch>,"seq":<n>}} with the fd attached (SCM_RIGHTS). Node
  // acknowledges it itself (NODE_HANDLE_ACK) and emits the inner message, an
  // internal one the app never sees, with the TCP handle; it becomes a
  // connection of the server that listened for the cluster port, as if that
  // server had accepted it. The preload tells eco how many connections the
  // server has open: {"cmd":"NODE_ECO_LOAD","e":..,"seq":..,"n":<open>,
  // "l":<1 while the server listens>} at once when a connection arrives,
  // before the app can read a byte of it (so eco knows which ones it may still
  // give to another instance if this one dies), and once per turn of the event
  // loop when connections close, and when eco asks ({"cmd":"NODE_ECO_ASK"}).
  // A connection that arrives with no server listening goes back ("back":1):
  // eco still holds it and passes it on.
  function startHandoff() {
    let server = null; // the cluster port's server, while it listens
    let active = 0; // its open connections
    let epoch = 0;
    let seq = 0;
    let scheduled = false;
    const taken = new WeakSet();

    process.on('internalMessage', (msg, handle) => {
      if (msg === null || typeof msg !== 'object') return;
      if (msg.cmd === 'NODE_ECO_ASK') {
        report(0, false); // a new daemon asks how the server is
        return;
      }
      if (msg.cmd !== 'NODE_ECO_CONN' || !handle) return;
      epoch = msg.e;
      seq = msg.seq;
      const to = server;
      if (to === null) {
        report(0, true);
        handle.close();
        return;
      }
      report(1, false);
      if (to._handle && typeof to._handle.onconnection === 'function') {
        to._handle.onconnection(0, handle);
      } else {
        to.emit('connection', new net.Socket({ handle, readable: true, writable: true }));
      }
    });

    function report(extra, back) {
      if (!process.connected) return;
      const m = { cmd: 'NODE_ECO_LOAD', e: epoch, seq, n: active + extra, l: server !== null ? 1 : 0 };
      if (back) m.back = 1;
      process.send(m, noop); // a callback: a closed channel is not an 'error' event
    }

    function changed() {
      if (scheduled) return;
      scheduled = true;
      // Not unref'd: an unref'd immediate waits for the loop's next event.
      setImmediate(() => {
        scheduled = false;
        report(0, false);
      });
    }

    return function take(srv) {
      if (taken.has(srv)) return;
      taken.add(srv);
      srv.prependListener('connection', (socket) => {
        active++;
        socket.once('close', () => {
          active--;
          changed();
        });
      });
      srv.on('listening', () => {
        server = srv;
        report(0, false);
      });
      srv.on('close', () => {
        if (server !== srv) return;
        server = null;
        report(0, false);
      });
    };
  }
  // ---- end of handoff ---------------------------------------------------

  // nodeListens reports whether the caller of fn is Node's net or dgram.
  function nodeListens(fn) {
    const prepare = Error.prepareStackTrace;
    const limit = Error.stackTraceLimit;
    const holder = {};
    try {
      Error.stackTraceLimit = 1;
      Error.prepareStackTrace = (_, callSites) => callSites;
      Error.captureStackTrace(holder, fn);
      const site = holder.stack && holder.stack[0];
      const file = site && site.getFileName();
      return file === 'node:net' || file === 'node:dgram';
    } catch (_) {
      return false;
    } finally {
      Error.prepareStackTrace = prepare;
      Error.stackTraceLimit = limit;
    }
  }

  // becomeWorker makes the cluster module say that this process is worker id,
  // as Node's own cluster workers (and so PM2's cluster instances) see it.
  function becomeWorker(id) {
    const cluster = require('cluster');
    const workerMark = Symbol.for('eco.worker');
    if (cluster[workerMark]) return; // another copy of the preload got here first
    const EventEmitter = require('events');
    const worker = new EventEmitter();
    worker.id = id;
    worker.process = process;
    worker.state = 'online';
    worker.exitedAfterDisconnect = undefined;
    worker.send = function send(...args) {
      if (typeof process.send !== 'function') throw new Error('eco: this instance has no IPC channel');
      return process.send(...args);
    };
    worker.isConnected = () => process.connected === true;
    worker.isDead = () => false;
    worker.kill = worker.destroy = () => process.exit(0);
    // disconnect closes the servers and the IPC channel, so that the process
    // ends once its work is done, as a Node worker's does; eco then restarts
    // it (autorestart), as PM2 and a tutorial's primary do.
    worker.disconnect = function disconnect() {
      worker.exitedAfterDisconnect = true;
      let open = [];
      try {
        open = [...servers];
      } catch (_) {
        // the preload tracks no servers when it only makes the worker
      }
      for (const server of open) {
        try {
          server.close();
        } catch (_) {
          // not listening
        }
      }
      if (process.connected) process.disconnect();
      return worker;
    };
    // Forward the process's 'message' and 'disconnect' only once someone
    // listens for them on the worker: such a listener on process keeps the IPC
    // channel, and so the process, alive.
    const forwarded = new Set();
    worker.on('newListener', (event) => {
      if ((event !== 'message' && event !== 'disconnect') || forwarded.has(event)) return;
      forwarded.add(event);
      process.on(event, (...args) => worker.emit(event, ...args));
    });
    // Node's own net and dgram ask the cluster module whether to listen
    // themselves or through a primary, which these processes do not have: they
    // get the primary's answer, so servers listen as they do without eco (and
    // on eco's socket through the redirect above). Every other reader, the
    // app and its libraries, gets the worker's.
    const role = (primary) => ({
      configurable: true,
      enumerable: true,
      get: function get() {
        return nodeListens(get) ? primary : !primary;
      },
      set: noop,
    });
    Object.defineProperty(cluster, 'isPrimary', role(true));
    Object.defineProperty(cluster, 'isMaster', role(true));
    Object.defineProperty(cluster, 'isWorker', role(false));
    cluster.worker = worker;
    delete cluster.workers;
    cluster.fork = function fork() {
      throw new Error(
        'eco: cluster.fork() in a cluster instance: eco starts the instances itself ' +
          '(instances = N in ecosystem.hcl), as PM2 does, and cluster.isPrimary is false in them'
      );
    };
    cluster[workerMark] = true;
    // `import { isPrimary } from 'node:cluster'` reads the values set here.
    require('module').syncBuiltinESMExports();
  }

  function isPort(value, want) {
    if (typeof value === 'number') return value === want;
    if (typeof value === 'string' && value.trim() !== '') return Number(value) === want;
    return false;
  }

  function toNumber(x) {
    return (x = Number(x)) >= 0 ? x : false;
  }

  function portNumber(s) {
    const n = positiveInt(s);
    return n > 0 && n <= 65535 ? n : 0;
  }

  function fdNumber(s) {
    return typeof s === 'string' && /^[0-9]+$/.test(s) ? Number(s) : -1;
  }

  function positiveInt(s) {
    return typeof s === 'string' && /^[0-9]+$/.test(s) ? Number(s) : 0;
  }
})();
