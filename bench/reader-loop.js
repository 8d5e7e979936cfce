// Point reads for a fixed time; prints reads per second.
//   node bench/reader-loop.js DB SECONDS reader|plain CHECK_INTERVAL_MS
// reader: through SnapshotReader (each read one transaction, a stat at most every CHECK_INTERVAL_MS);
// plain: one better-sqlite3 handle kept open, as any app may (each statement its own transaction).
import Database from 'better-sqlite3';
import { SnapshotReader } from '../lib/reader/snapshot-reader.js';

const [file, seconds, mode, interval] = process.argv.slice(2);
if (mode !== 'reader' && mode !== 'plain') throw new Error('usage: reader-loop.js DB SECONDS reader|plain CHECK_INTERVAL_MS');
const reader =
  mode === 'reader'
    ? new SnapshotReader(file, { checkIntervalMs: Number(interval) })
    : (() => {
        const db = new Database(file, { readonly: true, fileMustExist: true });
        return { read: (fn) => fn(db), reopens: 1 };
      })();
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
