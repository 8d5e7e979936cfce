// A tiny app that reads the live database through SnapshotReader, as a site
// would: GET / answers with what it serves now (a revision marker and counts).
//   node scripts/demo-app.js DATABASE PORT
import { createServer } from 'node:http';
import { SnapshotReader } from '../lib/reader/snapshot-reader.js';

const [database, port] = process.argv.slice(2);
const reader = new SnapshotReader(database, { checkIntervalMs: 100 });

createServer((_req, res) => {
  try {
    const page = reader.read((db) => ({
      releaseNotes: db.prepare('SELECT count(*) AS n FROM release_notes').get().n,
      advisories: db.prepare('SELECT count(*) AS n FROM advisories').get().n,
      latestAdvisory: db.prepare('SELECT id, severity, summary FROM advisories ORDER BY id DESC LIMIT 1').get(),
    }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(page, null, 2)}\n`);
  } catch (error) {
    res.writeHead(503, { 'content-type': 'text/plain' }).end(`${error.message}\n`);
  }
}).listen(Number(port), '127.0.0.1');
