import Database from 'better-sqlite3';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { crc32, deflateRawSync } from 'node:zlib';
import { manifestKey } from '@sqlitening/contract';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type CliResult, runCli } from './helpers/cli.js';
import { type TestClock, testClock } from './helpers/clock.js';
import { SHA_A, tempFolder } from './helpers/fixtures.js';
import { waitFor } from './helpers/poll.js';
import { NODE24 } from './helpers/node24.js';
import { FaultServer } from './helpers/fault-server.js';
import { encodeDeltaHeader } from '../src/wire/delta-format.js';
import { readManifest } from '../src/wire/manifest-store.js';
import { LocalStore } from '../src/store/local-store.js';
import { Agent } from '../src/agent/agent.js';
import { JOURNAL_SECTOR_SIZE, journalHeader, journalRecordSize, sealJournalRecord } from '../src/sqlite/rollback-journal.js';

/*
 * The promise to apps: any connection, opened at any install and kept as long as the app likes, through
 * any driver, reads one whole snapshot per transaction, whatever happens to the agent. Each connection
 * here is a real process (better-sqlite3 on Node 20, node:sqlite on Node 24, Python's sqlite3 read-write
 * and read-only), kept open across installs done by the CLI, and asked to read a ledger whose rows must
 * add up to the total in another table: a connection that read pages of two snapshots sees them disagree.
 */

let dir: string;
let cleanup: () => Promise<void>;
let n = 0;
beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('readers'));
});
afterAll(() => cleanup());

const ROWS = 3000;
/** The 100 rows that revision `r` gives a large value: all in the second half of the table (past the rows `warm` reads). */
const block = (r: number): [number, number] => [1500 + ((r - 1) % 15) * 100 + 1, 1500 + ((r - 1) % 15) * 100 + 100];
const totalOf = (r: number): number => ROWS - 100 + 100 * r * 1000;

/** A ledger at revision `r`, built from nothing in one transaction: two of them differ only in rows, not in header bytes 24–39. */
function freshLedger(file: string, r: number): void {
  rmSync(file, { force: true });
  const db = new Database(file);
  const [from, to] = block(r);
  db.transaction(() => {
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad TEXT NOT NULL); CREATE TABLE totals (rev INTEGER, total INTEGER)');
    const insert = db.prepare('INSERT INTO t (id, v, pad) VALUES (?, ?, ?)');
    for (let id = 1; id <= ROWS; id++) insert.run(id, id >= from && id <= to ? r * 1000 : 1, 'x'.repeat(200));
    db.prepare('INSERT INTO totals VALUES (?, ?)').run(r, totalOf(r));
  })();
  db.close();
}

/** The ledger moved to revision `r` in place, in one transaction, as a scheduled load does (the change counter rises by one). */
function updateLedger(file: string, r: number): void {
  const db = new Database(file);
  const [from, to] = block(r);
  db.transaction(() => {
    db.prepare('UPDATE t SET v = 1 WHERE v != 1').run();
    db.prepare('UPDATE t SET v = ? WHERE id BETWEEN ? AND ?').run(r * 1000, from, to);
    db.prepare('UPDATE totals SET rev = ?, total = ?').run(r, totalOf(r));
  })();
  db.close();
}

const header24to39 = (file: string): string => readFileSync(file).subarray(24, 40).toString('hex');
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

interface Answer {
  ok: boolean;
  rev?: number;
  whole?: boolean;
  code?: string | null;
  message?: string;
}

/** A connection an app holds, in its own process (test/helpers/reader-process.*). */
class Reader {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #answers: ((answer: Answer) => void)[] = [];
  readonly ready: Promise<void>;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
  ) {
    this.#child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    this.#child.stderr.on('data', (chunk) => (stderr += chunk));
    const lines = createInterface({ input: this.#child.stdout });
    this.ready = new Promise((resolve, reject) => {
      this.#child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${stderr}`)));
      lines.once('line', () => resolve());
    });
    void this.ready.then(() => lines.on('line', (line) => this.#answers.shift()?.(JSON.parse(line) as Answer)));
  }

  ask(op: 'warm' | 'check' | 'begin' | 'commit'): Promise<Answer> {
    return new Promise((resolve) => {
      this.#answers.push(resolve);
      this.#child.stdin.write(`${JSON.stringify({ op })}\n`);
    });
  }

  close(): void {
    this.#child.kill('SIGKILL');
  }
}

const HELPERS = path.resolve('test/helpers');
/** One connection per driver on `file`, opened now and warmed (part of the file in each one's cache). */
async function openReaders(file: string): Promise<Reader[]> {
  const readers = [
    new Reader('better-sqlite3', process.execPath, [path.join(HELPERS, 'reader-process.js'), 'better-sqlite3', file]),
    new Reader('node:sqlite', NODE24, ['--no-warnings', path.join(HELPERS, 'reader-process.js'), 'node:sqlite', file]),
    new Reader('python sqlite3', 'python3', [path.join(HELPERS, 'reader-process.py'), file]),
    new Reader('python sqlite3 read-only', 'python3', [path.join(HELPERS, 'reader-process.py'), file, 'ro']),
  ];
  await Promise.all(readers.map((reader) => reader.ready));
  for (const reader of readers) expect(await reader.ask('warm'), reader.name).toMatchObject({ ok: true });
  opened.push(...readers);
  return readers;
}
const opened: Reader[] = [];
afterEach(() => {
  for (const reader of opened.splice(0)) reader.close();
});

/**
 * Every reader reads one whole snapshot, of one of `revisions`; returns what each read. Each then keeps
 * part of the file in its cache again (`warm`), so that a next read of pages of two snapshots shows.
 */
async function expectWhole(readers: Reader[], revisions: number[]): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (const reader of readers) {
    const answer = await reader.ask('check');
    expect(answer, `${reader.name}: ${answer.message ?? ''}`).toMatchObject({ ok: true, whole: true });
    expect(revisions, reader.name).toContain(answer.rev);
    seen[reader.name] = answer.rev!;
    expect(await reader.ask('warm'), reader.name).toMatchObject({ ok: true });
  }
  return seen;
}

/**
 * Whether a process holds a write lock on `file` (/proc/locks): SQLite's RESERVED or PENDING lock, which an
 * install holds while it waits for readers to end their transactions.
 */
function writeLocked(file: string): boolean {
  const inode = statSync(file).ino;
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .some((line) => new RegExp(`\\bWRITE\\s+\\d+\\s+[0-9a-f]+:[0-9a-f]+:${inode}\\s`).test(line));
}

function pod(): {
  build: string;
  store: string;
  live: string;
  clock: TestClock;
  publish: () => Promise<void>;
  sync: (env?: Record<string, string>) => Promise<CliResult>;
} {
  n++;
  const clock = testClock();
  const store = path.join(dir, `store-${n}`);
  const build = path.join(dir, `build-${n}.db`);
  const live = path.join(dir, `pod-${n}`, 'site.db');
  return {
    build,
    store,
    live,
    clock,
    publish: async () => {
      const result = await runCli(['publish', build, '--store', store, '--git-sha', SHA_A, '--grace', '0s', '--keep', '5'], { clock });
      expect(result.code, result.stderr).toBe(0);
      clock.advance(1.1); // snapshot keys have whole seconds
    },
    sync: (env) => runCli(['sync', '--database', live, '--git-sha', SHA_A, '--store', store, '--attempts', '1', '--json'], { env, clock }),
  };
}
const installed = (result: CliResult) => result.events.find((e) => e.event === 'agent.installed');

describe('connections an app keeps open, in every driver', () => {
  it('read one whole snapshot across installs whose headers repeat bytes 24–39, and the newest whenever it was written in place', async () => {
    const p = pod();
    freshLedger(p.build, 1);
    const firstHeader = header24to39(p.build);
    await p.publish();
    expect(installed(await p.sync())).toMatchObject({ method: 'full' });
    const atFirst = await openReaders(p.live);
    await expectWhole(atFirst, [1]);

    // A scheduled load: the counter rises, the delta goes into the live file, every connection reads it.
    updateLedger(p.build, 2);
    await p.publish();
    expect(installed(await p.sync())).toMatchObject({ method: 'delta', replaced: null });
    expect(Object.values(await expectWhole(atFirst, [2]))).toEqual([2, 2, 2, 2]);

    // A fresh build running the same transactions: the very header bytes of the first snapshot, which a
    // connection's cache cannot tell apart. The agent does not write it into the live file.
    freshLedger(p.build, 3);
    expect(header24to39(p.build)).toBe(firstHeader);
    await p.publish();
    const third = await p.sync();
    expect(third.code, third.stderr).toBe(0);
    expect(installed(third)?.replaced).toMatch(/change counter/);
    expect(sha256(p.live)).toBe(sha256(p.build));
    // Connections opened before keep the file they have, whole; new ones read the new snapshot.
    await expectWhole(atFirst, [2]);
    const atThird = await openReaders(p.live);
    await expectWhole(atThird, [3]);

    // The next load raises the counter past the third snapshot's (not past the second's, on the other file).
    updateLedger(p.build, 4);
    await p.publish();
    expect(installed(await p.sync())).toMatchObject({ method: 'delta', replaced: null });
    await expectWhole(atFirst, [2]);
    await expectWhole(atThird, [4]);
  }, 90_000);

  it('a refresh by `sqlitening build --from` goes into the live file; a fresh build of the commit replaces it, and kept connections read the old file whole', async () => {
    const p = pod();
    const script = (body: string): string =>
      `node -e "const D=require('better-sqlite3');const db=new D(process.env.SQLITENING_DB);db.transaction(()=>{${body}})();db.close()"`;
    const fresh = (r: number): string => {
      const [from, to] = block(r);
      return script(
        `db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad TEXT NOT NULL); CREATE TABLE totals (rev INTEGER, total INTEGER)');const i=db.prepare('INSERT INTO t VALUES (?,?,?)');for(let id=1;id<=${ROWS};id++)i.run(id,id>=${from}&&id<=${to}?${r * 1000}:1,'x'.repeat(200));db.prepare('INSERT INTO totals VALUES (?,?)').run(${r},${totalOf(r)})`,
      );
    };
    const refresh = (r: number): string => {
      const [from, to] = block(r);
      return script(
        `db.exec('UPDATE t SET v = 1 WHERE v != 1');db.prepare('UPDATE t SET v = ? WHERE id BETWEEN ? AND ?').run(${r * 1000},${from},${to});db.prepare('UPDATE totals SET rev = ?, total = ?').run(${r},${totalOf(r)})`,
      );
    };
    const build = async (...args: string[]): Promise<void> => {
      const next = `${p.build}.next`;
      const result = await runCli(['build', '--output', next, ...args], { cwd: path.resolve('.') });
      expect(result.code, result.stderr).toBe(0);
      renameSync(next, p.build);
    };
    await build('--loader', fresh(1));
    await p.publish();
    expect(installed(await p.sync())).toMatchObject({ method: 'full' });
    const readers = await openReaders(p.live);
    await build('--from', p.build, '--loader', refresh(2));
    await p.publish();
    expect(installed(await p.sync())).toMatchObject({ method: 'delta', replaced: null });
    await expectWhole(readers, [2]);
    await build('--loader', fresh(5));
    await p.publish();
    expect(installed(await p.sync())?.replaced).toMatch(/change counter/);
    await expectWhole(readers, [2]);
    await expectWhole(await openReaders(p.live), [5]);
  }, 90_000);

  it('a connection inside a read transaction keeps its snapshot; the install waits for it, then every connection reads the new one', async () => {
    const p = pod();
    freshLedger(p.build, 1);
    updateLedger(p.build, 2);
    await p.publish();
    await p.sync();
    const readers = await openReaders(p.live);
    const [inTransaction] = readers;
    expect(await inTransaction!.ask('begin')).toMatchObject({ ok: true, rev: 2, whole: true });
    updateLedger(p.build, 3);
    await p.publish();
    const syncing = p.sync();
    await waitFor('the install waiting for the transaction', () => writeLocked(p.live));
    // The agent waits: the transaction still reads its snapshot, whole.
    expect(await inTransaction!.ask('check')).toMatchObject({ ok: true, rev: 2, whole: true });
    expect(existsSync(`${p.live}-journal`)).toBe(false);
    expect(await inTransaction!.ask('commit')).toMatchObject({ ok: true });
    expect(installed(await syncing)).toMatchObject({ method: 'delta', replaced: null });
    await expectWhole(readers, [3]);
  }, 90_000);

  it('a transaction held open past the wait: the install fails as readers-busy and is tried again; the held one reads its snapshot whole', async () => {
    const p = pod();
    freshLedger(p.build, 1);
    updateLedger(p.build, 2);
    await p.publish();
    await p.sync();
    const [held] = await openReaders(p.live);
    expect(await held!.ask('begin')).toMatchObject({ ok: true, rev: 2, whole: true });
    updateLedger(p.build, 3);
    await p.publish();
    const busy = await p.sync();
    expect(busy.code).toBe(1);
    expect(busy.events.find((e) => e.event === 'error')).toMatchObject({ code: 'readers-busy', retryable: true });
    expect(existsSync(`${p.live}-journal`)).toBe(false);
    expect(await held!.ask('check')).toMatchObject({ ok: true, rev: 2, whole: true });
    expect(await held!.ask('commit')).toMatchObject({ ok: true });
    expect(installed(await p.sync())).toMatchObject({ method: 'delta', replaced: null });
    await expectWhole([held!], [3]);
  }, 90_000);

  it('a connection left on a replaced file never takes a later install journal for its own while the agent runs', async () => {
    const p = pod();
    await mkdir(path.dirname(p.live));
    freshLedger(p.build, 1);
    await p.publish();
    const agent = await Agent.open({ store: new LocalStore(p.store), database: p.live, appGitSha: SHA_A, attempts: 1, metrics: false });
    try {
      expect((await agent.runOnce()).ok).toBe(true);
      const [left] = (await openReaders(p.live)).filter((reader) => reader.name === 'python sqlite3'); // read-write, as most apps open
      // The same header bytes as the live file's: replaced, not written in place.
      freshLedger(p.build, 3);
      await p.publish();
      const replaced = await agent.runOnce();
      expect(replaced.ok && replaced.outcome.status === 'installed' && replaced.outcome.replaced).toMatch(/change counter/);
      // A later install's journal, as it stands while the install writes (planted: the window is milliseconds).
      const journal = plantJournal(p.live);
      expect(await left!.ask('check')).toMatchObject({ ok: true, rev: 1, whole: true });
      expect(readFileSync(`${p.live}-journal`).equals(journal)).toBe(true);
      rmSync(`${p.live}-journal`);
    } finally {
      await agent.stop();
    }
  }, 90_000);
});

/** A valid hot journal for `file` holding its own page 2, as an install writes one before it touches the file. */
function plantJournal(file: string): Buffer {
  const bytes = readFileSync(file);
  const pageSize = bytes.readUInt16BE(16);
  const journal = Buffer.alloc(JOURNAL_SECTOR_SIZE + journalRecordSize(pageSize));
  journalHeader({ records: 1, nonce: 7, originalPages: bytes.length / pageSize, pageSize }, true).copy(journal, 0);
  const record = journal.subarray(JOURNAL_SECTOR_SIZE);
  bytes.copy(record, 4, pageSize, 2 * pageSize);
  sealJournalRecord(record, 2, 7, pageSize);
  writeFileSync(`${file}-journal`, journal);
  return journal;
}

describe('kill -9 at every step of an install, with connections of every driver open', () => {
  // Each named place in the install's journaled write (src/install/install-in-place.ts), in order.
  const points = ['install-journal-written', 'install-journaled', 'install-half-written', 'install-written', 'install-committed'];
  for (const point of points) {
    it(`at ${point}: no connection reads a torn snapshot, before or after the next start`, async () => {
      const p = pod();
      freshLedger(p.build, 1);
      await p.publish();
      await p.sync();
      const idle = await openReaders(p.live);
      updateLedger(p.build, 2);
      await p.publish();
      expect(installed(await p.sync())).toMatchObject({ method: 'delta', replaced: null });
      const inode = statSync(p.live).ino;
      const before = sha256(p.live);
      // One connection of each driver inside a transaction when the install starts: it ends it once the install waits for it.
      const inTransaction = await openReaders(p.live);
      for (const reader of inTransaction) expect(await reader.ask('begin'), reader.name).toMatchObject({ ok: true, rev: 2, whole: true });
      updateLedger(p.build, 3);
      await p.publish();
      const after = sha256(p.build);

      const crashing = p.sync({ SQLITENING_FAILPOINT: point });
      await waitFor('the install waiting for the transactions', () => writeLocked(p.live));
      for (const reader of inTransaction) {
        expect(await reader.ask('check'), reader.name).toMatchObject({ ok: true, rev: 2, whole: true });
        expect(await reader.ask('commit'), reader.name).toMatchObject({ ok: true });
      }
      const crashed = await crashing;
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
      expect(statSync(p.live).ino).toBe(inode);
      // Killed while the live file was being written: the journal that undoes it is there.
      if (['install-journaled', 'install-half-written', 'install-written'].includes(point)) expect(existsSync(`${p.live}-journal`)).toBe(true);

      // Before any agent starts again: a connection reads the old snapshot or the new one, whole; a
      // read-only one may instead be refused until the journal is rolled back (never served torn pages).
      for (const reader of [...idle, ...inTransaction]) {
        const answer = await reader.ask('check');
        if (answer.ok) {
          expect(answer, reader.name).toMatchObject({ whole: true });
          expect([2, 3], reader.name).toContain(answer.rev);
        } else {
          expect(answer.code, `${reader.name}: ${answer.message}`).toBe('SQLITE_READONLY_ROLLBACK');
        }
      }
      expect([before, after]).toContain(sha256(p.live));

      const again = await p.sync();
      expect(again.code, again.stderr).toBe(0);
      expect(sha256(p.live)).toBe(after);
      expect(statSync(p.live).ino).toBe(inode);
      expect(existsSync(`${p.live}-journal`)).toBe(false);
      expect(existsSync(path.join(path.dirname(p.live), '.sqlitening', 'incoming.pages'))).toBe(false);
      await expectWhole([...idle, ...inTransaction], [3]);
      const check = new Database(p.live, { readonly: true });
      expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
      check.close();
    }, 90_000);
  }
});

/** `body` gzipped into exactly `size` bytes (the header's extra field pads it), as a careful forger would. */
function gzipOfSize(body: Buffer, size: number): Buffer {
  const deflated = deflateRawSync(body, { level: 9 });
  const pad = size - (10 + 2 + deflated.length + 8);
  if (pad < 0) throw new Error(`the forged delta needs ${-pad} bytes more than the real one`);
  const header = Buffer.from([0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 0xff, pad & 0xff, pad >> 8]);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(body), 0);
  trailer.writeUInt32LE(body.length >>> 0, 4);
  return Buffer.concat([header, Buffer.alloc(pad), deflated, trailer]);
}

describe('a forged delta behind a signed manifest', () => {
  it('stalled and killed mid-transfer, then served whole: no connection ever reads its pages, and the pod installs the real snapshot', async () => {
    const p = pod();
    const keys = path.join(dir, `keys-${n}`);
    await mkdir(keys);
    expect((await runCli(['keygen', path.join(keys, 'k')])).code).toBe(0);
    const publish = async (): Promise<void> => {
      const result = await runCli(
        ['publish', p.build, '--store', p.store, '--git-sha', SHA_A, '--grace', '0s', '--keep', '5', '--signing-key', path.join(keys, 'k.key')],
        { clock: p.clock },
      );
      expect(result.code, result.stderr).toBe(0);
      p.clock.advance(1.1);
    };
    const server = new FaultServer(p.store);
    const url = await server.start();
    const syncArgs = ['sync', '--database', p.live, '--git-sha', SHA_A, '--store', url, '--trust-key', path.join(keys, 'k.pub'), '--attempts', '1', '--json'];
    try {
      freshLedger(p.build, 1);
      await publish();
      expect((await runCli(syncArgs, { clock: p.clock })).code).toBe(0);
      const readers = await openReaders(p.live);
      updateLedger(p.build, 2);
      await publish();
      expect(installed(await runCli(syncArgs, { clock: p.clock }))).toMatchObject({ method: 'delta', replaced: null });
      const before = sha256(p.live);
      const base = readFileSync(p.live);

      updateLedger(p.build, 3);
      await publish();
      const read = await readManifest(new LocalStore(p.store), manifestKey(SHA_A));
      if (read.status !== 'ok') throw new Error('no manifest');
      const manifest = read.manifest;
      const delta = manifest.deltas.find((d) => d.base.sha256 === before)!;
      expect(delta).toBeDefined();
      expect(manifest.patches).toEqual([]);

      // The attacker's snapshot: the same pages changed, their own rows (revision 18, in the rows revision 3 changes), under the real header.
      const forgedFile = path.join(dir, `forged-${n}.db`);
      writeFileSync(forgedFile, base);
      updateLedger(forgedFile, 18);
      const forged = readFileSync(forgedFile);
      const pageSize = manifest.chunks!.size;
      const records: Buffer[] = [];
      for (let page = 0; page * pageSize < forged.length; page++) {
        const bytes = forged.subarray(page * pageSize, (page + 1) * pageSize);
        if (bytes.equals(base.subarray(page * pageSize, (page + 1) * pageSize))) continue;
        const index = Buffer.alloc(4);
        index.writeUInt32BE(page);
        records.push(index, bytes);
      }
      const header = encodeDeltaHeader({
        format: 1,
        pageSize,
        pageCount: manifest.chunks!.count,
        pages: records.length / 2,
        baseSha256: before,
        targetSha256: manifest.database.sha256,
      });
      const body = Buffer.concat([header, ...records]);
      expect(delta.encoding).toBe('gzip');
      writeFileSync(path.join(p.store, delta.key), gzipOfSize(body, delta.size));

      // Stalled half way and killed: what came was staged, never written where a connection reads.
      server.faults.set(delta.key, { kind: 'stall' });
      const child = spawn(process.execPath, [CLI, ...syncArgs, '--stall-timeout', '60s'], { stdio: 'ignore' });
      const staging = path.join(path.dirname(p.live), '.sqlitening', 'incoming.pages');
      await waitFor('the stalled delta staged', () => existsSync(staging) && statSync(staging).size > 0, 10_000);
      expect(statSync(staging).size).toBeGreaterThan(0);
      await expectWhole(readers, [2]);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      expect(sha256(p.live)).toBe(before);
      await expectWhole(readers, [2]);

      // Served whole: the root refuses it before any page reaches the live file; the real snapshot follows.
      server.faults.delete(delta.key);
      const next = await runCli(syncArgs, { clock: p.clock });
      expect(next.code, next.stderr).toBe(0);
      expect(installed(next)).toMatchObject({ method: 'full', replaced: null, fallback: expect.stringMatching(/chunk root/) });
      expect(sha256(p.live)).toBe(manifest.database.sha256);
      expect(existsSync(staging)).toBe(false);
      await expectWhole(readers, [3]);
    } finally {
      await server.stop();
    }
  }, 90_000);
});

describe('the data folder', () => {
  it('pull into a file an agent left with a hot journal rolls it back first, so the journal is never played onto the new file', async () => {
    const p = pod();
    freshLedger(p.build, 1);
    await p.publish();
    expect((await p.sync()).code).toBe(0);
    // As an agent killed mid-install leaves it: a valid journal of the live file's own pages.
    plantJournal(p.live);
    updateLedger(p.build, 2);
    await p.publish();
    const pulled = await runCli(['pull', p.live, '--git-sha', SHA_A, '--store', p.store, '--json'], { clock: p.clock });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(existsSync(`${p.live}-journal`)).toBe(false);
    const [reader] = await openReaders(p.live);
    await expectWhole([reader!], [2]);
    expect(sha256(p.live)).toBe(sha256(p.build));
  }, 60_000);

  it("keeps the agent's own folder to its user, and never writes through a link where the live file should be", async () => {
    const p = pod();
    freshLedger(p.build, 1);
    await p.publish();
    expect((await p.sync()).code).toBe(0);
    const own = path.join(path.dirname(p.live), '.sqlitening');
    expect(statSync(own).mode & 0o777).toBe(0o700);
    // Someone who can write the data folder points the live name at another SQLite file.
    const other = path.join(dir, `other-${n}.db`);
    writeFileSync(other, readFileSync(p.live));
    const otherSha = sha256(other);
    rmSync(p.live);
    symlinkSync(other, p.live);
    // …and a link where the agent stages pages.
    symlinkSync(other, path.join(own, 'incoming.pages'));
    updateLedger(p.build, 2);
    await p.publish();
    const result = await p.sync();
    expect(result.code, result.stderr).toBe(0);
    expect(installed(result)?.replaced).toMatch(/not a regular file/);
    expect(lstatSync(p.live).isFile()).toBe(true);
    expect(sha256(p.live)).toBe(sha256(p.build));
    expect(sha256(other)).toBe(otherSha);
  }, 60_000);
});
