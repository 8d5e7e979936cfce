// A connection an app keeps open, in its own process, driven line by line over stdin (one JSON command
// per line, one JSON answer per line on stdout). The readers test holds one per driver across installs.
//   node reader-process.js better-sqlite3|node:sqlite DATABASE
// Commands: {"op":"warm"} empties the connection's page cache and reads part of the file (those pages
// stay cached, as part of a large file does in an app's connection);
// {"op":"check"} reads it all in one statement and says whether it is one whole snapshot;
// {"op":"begin"} starts a read transaction (and reads); {"op":"commit"} ends it.
import { createInterface } from 'node:readline';

const [driver, file] = process.argv.slice(2);
const open = {
  'better-sqlite3': async () => {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(file, { readonly: true, fileMustExist: true });
    return { all: (sql) => db.prepare(sql).all(), exec: (sql) => db.exec(sql) };
  },
  'node:sqlite': async () => {
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(file, { readOnly: true, timeout: 5000 });
    return { all: (sql) => db.prepare(sql).all(), exec: (sql) => db.exec(sql) };
  },
}[driver];
if (!open || !file) throw new Error('usage: reader-process.js better-sqlite3|node:sqlite DATABASE');
const db = await open();

const ops = {
  warm: () => {
    db.exec('PRAGMA shrink_memory');
    return { rows: db.all('SELECT rev, total FROM totals').length + db.all('SELECT sum(v) AS s FROM t WHERE id <= 1500').length };
  },
  check: () => {
    const [row] = db.all(
      'SELECT (SELECT rev FROM totals) AS rev, (SELECT total FROM totals) AS total, (SELECT sum(v) FROM t) AS sum, (SELECT count(*) FROM t) AS n',
    );
    return { rev: Number(row.rev), whole: Number(row.total) === Number(row.sum) && Number(row.n) === 3000 };
  },
  begin: () => {
    db.exec('BEGIN');
    return ops.check();
  },
  commit: () => {
    db.exec('COMMIT');
    return {};
  },
};

/** better-sqlite3 names the extended code; node:sqlite gives its number. */
function sqliteCode(error) {
  if (typeof error.code === 'string' && error.code.startsWith('SQLITE_')) return error.code;
  return { 5: 'SQLITE_BUSY', 776: 'SQLITE_READONLY_ROLLBACK' }[error.errcode] ?? `errcode ${error.errcode}`;
}

process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  const { op } = JSON.parse(line);
  let answer;
  try {
    answer = { ok: true, ...ops[op]() };
  } catch (error) {
    answer = { ok: false, code: sqliteCode(error), message: error.message };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
