import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type CliResult, runCli } from './helpers/cli.js';
import { makeContentDatabase, SHA_A, tempFolder } from './helpers/fixtures.js';

/*
 * Delta installs on the standby (the file that was live before the last
 * install): patched in place, then swapped in, so an install costs what
 * changed, not a copy of the file. Real SQLite readers hold it open.
 */

let dir: string;
let cleanup: () => Promise<void>;
let n = 0;
beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('standby'));
});
afterAll(() => cleanup());

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const inode = (file: string): number => statSync(file).ino;

function setup(): { root: string; db: string; live: string; standby: string; publish: () => Promise<void>; refresh: (revision: number) => void } {
  n++;
  const root = path.join(dir, `store-${n}`);
  const db = path.join(dir, `build-${n}.db`);
  const live = path.join(dir, `pod-${n}`, 'site.db');
  makeContentDatabase(db, 2000, 1);
  return {
    root,
    db,
    live,
    standby: path.join(dir, `pod-${n}`, '.sqlitening', 'standby.db'),
    publish: async () => {
      const result = await runCli(['publish', db, '--store', root, '--git-sha', SHA_A, '--grace', '0s', '--keep', '5']);
      expect(result.code, result.stderr).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // keys have whole seconds
    },
    // 1% of the rows, in place, as a scheduled load changes them.
    refresh: (revision) => {
      const update = new Database(db);
      update.prepare('UPDATE posts SET body = ? || body WHERE id % 100 = ?').run(`rev ${revision} `, revision % 100);
      update.close();
    },
  };
}

function sync(store: string, live: string): Promise<CliResult> {
  return runCli(['sync', '--database', live, '--git-sha', SHA_A, '--store', store, '--attempts', '1', '--json']);
}
const installedWith = (result: CliResult) => result.events.find((e) => e.event === 'agent.installed');

describe('delta installs on the standby', () => {
  it('keeps the replaced live file as the standby and patches it in place at the next delta', async () => {
    const s = setup();
    await mkdir(path.dirname(s.live));
    await s.publish();
    expect(installedWith(await sync(s.root, s.live))).toMatchObject({ method: 'full' });
    const first = inode(s.live);
    expect(existsSync(s.standby)).toBe(false);

    s.refresh(2);
    await s.publish();
    expect(installedWith(await sync(s.root, s.live))).toMatchObject({ method: 'delta' });
    const second = inode(s.live);
    expect(second).not.toBe(first);
    expect(inode(s.standby)).toBe(first); // the replaced live file, not a copy

    for (const [revision, expected, standby] of [
      [3, first, second],
      [4, second, first],
    ] as const) {
      s.refresh(revision);
      await s.publish();
      const result = await sync(s.root, s.live);
      expect(installedWith(result), result.stdout).toMatchObject({ method: 'delta' });
      expect(inode(s.live)).toBe(expected); // patched in place and swapped in
      expect(inode(s.standby)).toBe(standby);
      expect(sha256(s.live)).toBe(sha256(s.db));
    }
  }, 60_000);

  it('waits for a reader still inside a transaction on the standby, which sees its snapshot whole throughout', async () => {
    const s = setup();
    await mkdir(path.dirname(s.live));
    await s.publish();
    await sync(s.root, s.live);
    // A reader of v1, inside a read transaction (SQLite's shared lock) across two installs.
    const reader = new Database(s.live, { readonly: true });
    const titles = reader.prepare('SELECT group_concat(body) AS all_bodies FROM posts WHERE id % 100 = 3');
    reader.exec('BEGIN');
    const before = (titles.get() as { all_bodies: string }).all_bodies;
    try {
      s.refresh(2);
      await s.publish();
      expect(installedWith(await sync(s.root, s.live))).toMatchObject({ method: 'delta' }); // a copy: v1's file untouched

      s.refresh(3); // changes exactly the rows the reader reads
      await s.publish();
      const child = spawn(process.execPath, [CLI, 'sync', '--database', s.live, '--git-sha', SHA_A, '--store', s.root, '--attempts', '1', '--json'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(child.exitCode, stdout).toBe(null); // waiting for the reader's lock
      expect((titles.get() as { all_bodies: string }).all_bodies).toBe(before);
      reader.exec('COMMIT');
      expect(await exited).toBe(0);
      expect(stdout).toContain('"method":"delta"');
      expect(sha256(s.live)).toBe(sha256(s.db));
    } finally {
      if (reader.inTransaction) reader.exec('COMMIT');
      reader.close();
    }
  }, 60_000);

  it('applies the delta to a copy when a reader keeps holding the standby (a handle with no reads since the swap)', async () => {
    const s = setup();
    await mkdir(path.dirname(s.live));
    await s.publish();
    await sync(s.root, s.live);
    const reader = new Database(s.live, { readonly: true });
    reader.pragma('locking_mode = EXCLUSIVE'); // as SnapshotReader holds it: the shared lock for the handle's life
    const count = (reader.prepare('SELECT count(*) AS n FROM posts').get() as { n: number }).n;
    try {
      s.refresh(2);
      await s.publish();
      await sync(s.root, s.live);
      const held = inode(s.standby);
      s.refresh(3);
      await s.publish();
      const result = await sync(s.root, s.live);
      expect(installedWith(result), result.stdout).toMatchObject({ method: 'delta' });
      expect(inode(s.live)).not.toBe(held); // not patched: a copy of the live file
      expect(sha256(s.live)).toBe(sha256(s.db));
      expect((reader.prepare('SELECT count(*) AS n FROM posts').get() as { n: number }).n).toBe(count);
    } finally {
      reader.close();
    }
  }, 60_000);

  it('does not use a standby written to since it was kept; the next delta copies the live file', async () => {
    const s = setup();
    await mkdir(path.dirname(s.live));
    await s.publish();
    await sync(s.root, s.live);
    s.refresh(2);
    await s.publish();
    await sync(s.root, s.live);
    await appendFile(s.standby, Buffer.alloc(4096));
    // Held open, so that its inode number cannot be reused by a new file and the check below cannot pass by chance.
    const kept = openSync(s.standby, 'r');
    try {
      s.refresh(3);
      await s.publish();
      const result = await sync(s.root, s.live);
      expect(installedWith(result), result.stdout).toMatchObject({ method: 'delta' });
      expect(fstatSync(kept).nlink).toBe(0); // thrown away, not patched and swapped in
      expect(inode(s.live)).not.toBe(fstatSync(kept).ino);
      expect(sha256(s.live)).toBe(sha256(s.db));
    } finally {
      closeSync(kept);
    }
  }, 60_000);
});

describe('kill -9 inside an in-place delta install', () => {
  // Each named place in the standby's patch and swap (src/agent/standby.ts), in order.
  const points = ['standby-untrusted', 'standby-caught-up', 'standby-patched', 'standby-verified', 'standby-next-linked', 'standby-swapped', 'standby-kept'];
  for (const point of points) {
    it(`at ${point}: the live file is one whole snapshot, a reader keeps reading, and the next syncs end right`, async () => {
      const s = setup();
      await mkdir(path.dirname(s.live));
      await s.publish();
      await sync(s.root, s.live);
      s.refresh(2);
      await s.publish();
      expect(installedWith(await sync(s.root, s.live))).toMatchObject({ method: 'delta' });
      expect(existsSync(s.standby)).toBe(true);
      const before = sha256(s.live);
      s.refresh(3);
      await s.publish();
      const after = sha256(s.db);

      // A reader of the live file, open across the crash.
      const reader = new Database(s.live, { readonly: true, fileMustExist: true });
      const posts = (): number => (reader.prepare('SELECT count(*) AS n FROM posts').get() as { n: number }).n;
      const count = posts();
      const crashed = await runCli(['sync', '--database', s.live, '--git-sha', SHA_A, '--store', s.root, '--attempts', '1', '--json'], {
        env: { SQLITENING_FAILPOINT: point },
      });
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
      expect([before, after]).toContain(sha256(s.live));
      const check = new Database(s.live, { readonly: true });
      expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
      check.close();
      expect(posts()).toBe(count);
      reader.close();

      const again = await sync(s.root, s.live);
      expect(again.code, again.stderr).toBe(0);
      expect(sha256(s.live)).toBe(after);
      s.refresh(4);
      await s.publish();
      const next = await sync(s.root, s.live);
      expect(next.code, next.stderr).toBe(0);
      expect(installedWith(next)).toMatchObject({ method: 'delta' });
      expect(sha256(s.live)).toBe(sha256(s.db));
    }, 60_000);
  }
});
