import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent/agent.js';
import { publishSnapshot } from '../src/publish/publish.js';
import { SnapshotReader } from '../src/reader/snapshot-reader.js';
import { HttpStore } from '../src/store/http-store.js';
import { LocalStore } from '../src/store/local-store.js';
import { FaultServer } from './helpers/fault-server.js';
import { SHA_A, tempFolder } from './helpers/fixtures.js';
import { waitFor } from './helpers/poll.js';
import { betterSqlite3Driver } from '../src/sqlite/better-sqlite3-driver.js';

let dir: string;
let cleanup: () => Promise<void>;
let server: FaultServer;
let publisher: LocalStore;

beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('reader'));
  publisher = new LocalStore(path.join(dir, 'store'));
  server = new FaultServer(path.join(dir, 'store'));
  await server.start();
  await mkdir(path.join(dir, 'pod'));
});
afterAll(async () => {
  await server.stop();
  await cleanup();
});

/** A snapshot whose every row carries its version, so a reader can tell one snapshot from a mix. */
async function publishVersion(version: number): Promise<void> {
  const file = path.join(dir, `v${version}.db`);
  const db = new Database(file);
  db.pragma('journal_mode = DELETE');
  db.exec('CREATE TABLE meta (version INTEGER NOT NULL); CREATE TABLE items (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, body TEXT)');
  db.prepare('INSERT INTO meta VALUES (?)').run(version);
  const insert = db.prepare('INSERT INTO items (version, body) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < 200; i++) insert.run(version, `item ${i} of version ${version} `.repeat(10));
  })();
  db.close();
  await publishSnapshot({
    store: publisher,
    sqlite: betterSqlite3Driver,
    database: file,
    gitSha: SHA_A,
    encoding: 'gzip',
    retention: { keep: 3, graceMs: 0 },
    check: false,
    dryRun: false,
    tempDir: dir,
    now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, version)),
  });
}

describe('SnapshotReader', () => {
  it('a reader in another process sees 50+ swaps with no failed read and never a mix of two snapshots', async () => {
    const live = path.join(dir, 'pod', 'site.db');
    const agent = await Agent.open({ store: new HttpStore({ baseUrl: server.url }), database: live, appGitSha: SHA_A, attempts: 1 });
    try {
      await publishVersion(1);
      expect((await agent.runOnce()).ok).toBe(true);
      const child = spawn(process.execPath, [path.resolve('test/helpers/reader-loop.js'), live, '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      const swaps = 55;
      for (let version = 2; version <= swaps + 1; version++) {
        await publishVersion(version);
        const result = await agent.runOnce();
        expect(result.ok && result.outcome.status).toBe('installed');
        await waitFor(`the reader on snapshot ${version}`, () => output.includes(`seen ${version}\n`), 10_000); // the reader runs on each snapshot
      }
      child.stdin.end();
      await new Promise((resolve) => child.once('exit', resolve));
      const seen = JSON.parse(output.slice(output.lastIndexOf('\n') + 1)) as {
        reads: number;
        failures: number;
        mixed: number;
        versions: number[];
        reopens: number;
        errors: string[];
      };
      expect(seen.errors).toEqual([]);
      expect(seen.failures).toBe(0);
      expect(seen.mixed).toBe(0);
      expect(seen.reopens).toBeGreaterThanOrEqual(50);
      expect(seen.versions.length).toBeGreaterThanOrEqual(50);
      expect(seen.versions.at(-1)).toBe(swaps + 1);
      expect(seen.reads).toBeGreaterThan(seen.reopens);
    } finally {
      await agent.stop();
    }
  });

  it('explains a missing database, and keeps serving the last snapshot if the file disappears', async () => {
    const file = path.join(dir, 'solo.db');
    const reader = new SnapshotReader(file, { checkIntervalMs: 0 });
    expect(() => reader.handle()).toThrow(/^no database at .*solo\.db yet \(is the agent running\?\)/);
    const db = new Database(file);
    db.exec('CREATE TABLE t (n); INSERT INTO t VALUES (7)');
    db.close();
    expect(reader.read((h) => h.prepare('SELECT n FROM t').get())).toEqual({ n: 7 });
    const { rm } = await import('node:fs/promises');
    await rm(file);
    expect(reader.read((h) => h.prepare('SELECT n FROM t').get())).toEqual({ n: 7 });
    reader.close();
  });
});
