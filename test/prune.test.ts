import { readdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestKey } from '@sqlitening/contract';
import { commitFolders, planCommitPrune, pruneCommits } from '../src/publish/prune-commits.js';
import { publishSnapshot } from '../src/publish/publish.js';
import { LocalStore } from '../src/store/local-store.js';
import { runCli } from './helpers/cli.js';
import { makeContentDatabase, tempFolder } from './helpers/fixtures.js';
import { betterSqlite3Driver } from '../src/sqlite/better-sqlite3-driver.js';

const DAY = 86_400_000;
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('prune'));
});
afterAll(() => cleanup());

const sha = (c: string) => c.repeat(40);

describe('planCommitPrune (pure)', () => {
  it('keeps the newest commits, the recently active and the protected', () => {
    const now = new Date('2026-11-26T00:00:00Z');
    const object = (gitSha: string, daysAgo: number) => ({
      key: `${gitSha}/x.db.gz`,
      size: 1,
      etag: '"e"',
      lastModified: new Date(now.getTime() - daysAgo * DAY),
    });
    const folders = commitFolders([
      object(sha('a'), 1),
      object(sha('b'), 40),
      object(sha('c'), 50),
      object(sha('d'), 60),
      { ...object(sha('e'), 5), key: 'latest.json' },
    ]);
    expect(folders.map((f) => f.gitSha)).toEqual([sha('a'), sha('b'), sha('c'), sha('d')]);
    const doomed = planCommitPrune(folders, { keepCommits: 1, olderThanMs: 30 * DAY, protect: new Set([sha('c')]) }, now);
    expect(doomed.map((f) => f.gitSha)).toEqual([sha('b'), sha('d')]);
    expect(planCommitPrune(folders, { keepCommits: 4, olderThanMs: 0, protect: new Set() }, now)).toEqual([]);
  });
});

describe('pruneCommits', () => {
  it('deletes old commit folders whole, never the one latest.json names, and says what a dry run would do', async () => {
    const root = path.join(dir, 'store');
    const store = new LocalStore(root);
    const db = path.join(dir, 'site.db');
    makeContentDatabase(db, 20);
    const commits = ['1', '2', '3', '4'].map(sha);
    for (const [i, gitSha] of commits.entries()) {
      await publishSnapshot({
        store,
        sqlite: betterSqlite3Driver,
        database: db,
        gitSha,
        encoding: 'gzip',
        retention: { keep: 5, graceMs: 0 },
        check: false,
        dryRun: false,
        tempDir: dir,
        now: () => new Date(Date.UTC(2026, 0, 1 + i)),
      });
    }
    // Make every object old, commit 4 the newest; latest.json names it.
    for (const object of await store.list('')) {
      const old = new Date(Date.now() - (90 - commits.indexOf(object.key.split('/')[0]!)) * DAY);
      await utimes(path.join(root, object.key), old, old);
    }

    const dry = await runCli(['prune', '--store', root, '--keep-commits', '1', '--older-than', '30d', '--protect', commits[1]!, '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    const planned = dry.events.at(-1)!;
    // Two commits of one snapshot each: manifest, object and chunk list.
    expect(planned).toMatchObject({ command: 'prune', dryRun: true, objects: 6 });
    expect((planned.commits as string[]).sort()).toEqual([commits[0], commits[2]].sort());
    expect((await readdir(root)).sort()).toEqual([...commits, 'latest.json'].sort());

    const deleted = await pruneCommits(store, { keepCommits: 1, olderThanMs: 30 * DAY, protect: new Set([commits[1]!]) }, { dryRun: false });
    expect(deleted.map((f) => f.gitSha).sort()).toEqual([commits[0], commits[2]].sort());
    expect(await store.head(manifestKey(commits[0]!))).toBeUndefined();
    expect(await store.list(`${commits[2]}/`)).toEqual([]);
    expect(await store.head(manifestKey(commits[1]!))).toBeDefined();
    expect(await store.head(manifestKey(commits[3]!))).toBeDefined();
  });

  it('refuses a bad --protect sha and a read-only store', async () => {
    const bad = await runCli(['prune', '--store', dir, '--protect', 'main']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid git sha from --protect');
    const readOnly = await runCli(['prune', '--store', 'https://snapshots.example.com/www']);
    expect(readOnly.code).toBe(2);
    expect(readOnly.stderr).toContain('cannot prune https://snapshots.example.com/www: it is read-only');
  });
});
