// Managed by Slipway (roles/slipway_release/files/next-server.cjs).
// Serves the Next.js release in its working directory (pm2 starts it in `current/<app dir>`; the
// resolved path pins this worker to its release) so that a pm2 cluster reload leaves no gap:
//   1. Next is prepared and a few warm-up requests are answered on a private port (exclusive, so the
//      cluster does not route the site's requests to this worker yet): the route modules are loaded
//      before the first visitor needs them;
//   2. only then does it listen on the shared port, and tell pm2 it is ready (wait_ready), so pm2
//      stops an old worker only once a warm new one serves;
//   3. on SIGINT/SIGTERM it stops taking connections, finishes the requests it has, then exits.
// While another process still holds the port (the runbook's in-place `next start`, when the first
// release converts it), the warm worker retries every few milliseconds and says so with a file in
// $SLIPWAY_PORT_WAIT_DIR, so the release stops the old process only once every new worker is
// warm and waiting: the port is free for a few milliseconds instead of the seconds a cold start takes.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const nodePath = require('node:path');

const dir = process.cwd();
const port = Number.parseInt(process.env.PORT || '3000', 10);
const warmPaths = (process.env.SLIPWAY_WARM_PATHS || '/api/health,/')
  .split(',')
  .map((p) => p.trim())
  .filter((p) => p.startsWith('/'));
const log = (msg) => console.log(`slipway next-server ${process.pid}: ${msg}`);

function get(localPort, path) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: localPort, path, timeout: 15000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: String(err) }));
  });
}

async function warm(handler) {
  const server = http.createServer(handler);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, resolve);
  });
  const localPort = server.address().port;
  const seen = [];
  const assets = new Set();
  for (const path of warmPaths) {
    const answer = await get(localPort, path);
    seen.push(`${path} ${answer.status}`);
    for (const m of answer.body.matchAll(/\/_next\/static\/[^"'\s<>]+?\.(?:js|css)/g)) assets.add(m[0]);
  }
  for (const asset of [...assets].slice(0, 4)) {
    const answer = await get(localPort, asset);
    seen.push(`${asset} ${answer.status}`);
  }
  await new Promise((resolve) => server.close(resolve));
  log(`warmed up in ${dir}: ${seen.join(', ')}`);
}

async function main() {
  const next = require(require.resolve('next', { paths: [dir] }));
  const app = (next.default || next)({ dev: false, dir, port, hostname: 'localhost' });
  await app.prepare();
  const handle = app.getRequestHandler();
  const handler = (req, res) => {
    handle(req, res).catch((err) => {
      console.error(err);
      if (!res.headersSent) res.statusCode = 500;
      res.end();
    });
  };
  await warm(handler);

  const server = http.createServer(handler);
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: finishing the open requests`);
    // Stay a moment after the close: a connection the cluster primary handed over just before it
    // heard of the close is then refused back to it (and given to another worker) instead of being
    // lost with this process (the client would wait for it until its timeout).
    server.close(() => setTimeout(() => process.exit(0), 500));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), Number(process.env.SLIPWAY_STOP_TIMEOUT_MS || 4000)).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('message', (msg) => msg === 'shutdown' && stop('shutdown'));
  const waitUntil = Date.now() + Number(process.env.SLIPWAY_PORT_WAIT_MS || 120000);
  const waitDir = process.env.SLIPWAY_PORT_WAIT_DIR || '';
  let waiting = false;
  server.on('error', (err) => {
    if (err.code === 'EADDRINUSE' && !stopping && Date.now() < waitUntil) {
      if (!waiting) {
        waiting = true;
        log(`port ${port} is still held by another process: waiting for it`);
        if (waitDir) {
          try {
            fs.writeFileSync(nodePath.join(waitDir, String(process.pid)), `${port}\n`);
          } catch (e) {
            log(`could not say so in ${waitDir}: ${e.message}`);
          }
        }
      }
      setTimeout(() => server.listen(port), 2);
      return;
    }
    console.error('slipway next-server: cannot listen', err);
    process.exit(1);
  });
  server.on('listening', () => {
    log(`serving ${dir} on port ${port}`);
    if (process.send) process.send('ready');
  });
  server.listen(port);
}

main().catch((err) => {
  console.error('slipway next-server: could not start', err);
  process.exit(1);
});
