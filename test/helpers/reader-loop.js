// Reads the live database through SnapshotReader in a tight loop until stdin
// closes, then prints what it saw as JSON on a last line. Each read runs two statements and
// checks that both saw the same snapshot (every row carries its version); each version is
// reported on a line of its own (`seen <version>`) when first read.
import { SnapshotReader } from '../../lib/reader/snapshot-reader.js';

const [file, interval = '0'] = process.argv.slice(2);
const reader = new SnapshotReader(file, { checkIntervalMs: Number(interval) });
const seen = new Set();
let reads = 0;
let failures = 0;
let mixed = 0;
const errors = [];
let done = false;
process.stdin.on('end', () => (done = true)).resume();

function slice() {
  const until = Date.now() + 5;
  while (Date.now() < until) {
    try {
      reader.read((db) => {
        const { version } = db.prepare('SELECT version FROM meta').get();
        const rows = db.prepare('SELECT count(*) AS n, min(version) AS lo, max(version) AS hi FROM items').get();
        if (rows.lo !== version || rows.hi !== version || rows.n !== 200) mixed++;
        if (!seen.has(version)) process.stdout.write(`seen ${version}\n`);
        seen.add(version);
      });
      reads++;
    } catch (error) {
      failures++;
      if (errors.length < 5) errors.push(String(error));
    }
  }
  if (done) {
    process.stdout.write(JSON.stringify({ reads, failures, mixed, versions: [...seen].sort((a, b) => a - b), reopens: reader.reopens, errors }));
    reader.close();
  } else setImmediate(slice);
}
slice();
