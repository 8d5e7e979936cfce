// A webhook receiver on 127.0.0.1 for the workerd tests, started by Vitest in
// Node. POST /fail-N/<name> answers 500 to the first N requests of each alert, then 200;
// anything else answers 200. GET /__log returns every request; DELETE /__log clears it.
import { createServer, type Server } from 'node:http';

interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  status: number;
}

let server: Server;

export async function setup(): Promise<void> {
  const log: Received[] = [];
  const seen = new Map<string, number>();
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const path = req.url ?? '/';
      if (path === '/__log') {
        const copy = JSON.stringify(log);
        if (req.method === 'DELETE') {
          log.length = 0;
          seen.clear();
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(copy);
        return;
      }
      // Failures count per alert, so every alert meets the same flaky receiver.
      const key = `${path} ${req.headers['x-sqlitening-alert-id'] ?? ''}`;
      const count = (seen.get(key) ?? 0) + 1;
      seen.set(key, count);
      const failFirst = Number(/^\/fail-(\d+)\//.exec(path)?.[1] ?? 0);
      const redirect = /^\/redirect\/(.*)$/.exec(path);
      const status = redirect ? 307 : count <= failFirst ? 500 : 200;
      log.push({ method: req.method ?? '', path, headers: req.headers as Record<string, string>, body, status });
      res.writeHead(status, redirect ? { location: `/landed/${redirect[1]}` } : {}).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(Number(process.env.RECEIVER_PORT), '127.0.0.1', resolve));
}

export async function teardown(): Promise<void> {
  await new Promise((resolve) => server.close(resolve));
}
