// Point reads through SnapshotReader for a fixed time; prints reads per second.
//   node bench/reader-loop.js DB SECONDS HOLD_LOCK CHECK_INTERVAL_MS
import { SnapshotReader } from '../lib/reader/snapshot-reader.js';

const [file, seconds, holdLock, interval] = process.argv.slice(2);
const reader = new SnapshotReader(file, { holdLock: holdLock === 'true', checkIntervalMs: Number(interval) });
const statements = new WeakMap();
const max = reader.read((db) => db.prepare('SELECT max(id) AS n FROM articles').get().n);
let reads = 0;
let failures = 0;
const end = Date.now() + Number(seconds) * 1000;
let id = 1;
while (Date.now() < end) {
  for (let i = 0; i < 200; i++) {
    try {
      reader.read((db) => {
        let statement = statements.get(db);
        if (!statement) {
          statement = db.prepare('SELECT id, slug, title FROM articles WHERE id = ?');
          statements.set(db, statement);
        }
        id = (id * 7919) % max;
        return statement.get(id + 1);
      });
      reads++;
    } catch {
      failures++;
    }
  }
}
process.stdout.write(JSON.stringify({ readsPerSecond: reads / Number(seconds), failures, reopens: reader.reopens }));
