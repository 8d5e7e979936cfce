import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { manifestKey, serializeManifest } from '@sqlitening/contract';
import { describe, expect, it } from 'vitest';
import { makeContentDatabase, SHA_A } from './helpers/fixtures.js';
import { corruptByte, errorOf, manifestIn, sha256, trustFixture } from './helpers/trust.js';

/* What a pod verified: the live file re-read against its manifest (--reverify), and a manifest's own identity. */

const t = trustFixture('reverify');

describe('what a pod verified', () => {
  it('a delta install does not reset the re-verification clock: a corrupt unchanged page is found and replaced', async () => {
    const n = t.next();
    const root = path.join(t.dir, `clock-${n}`);
    const live = path.join(t.dir, `pod-clock-${n}`, 'site.db');
    const db = path.join(t.dir, `clock-${n}.db`);
    makeContentDatabase(db, 2000, 1);
    const publish = () => t.cli(['publish', db, '--store', root, '--git-sha', SHA_A, '--grace', '0s', '--keep', '5']);
    const sync = () => t.cli(['sync', '--database', live, '--git-sha', SHA_A, '--store', root, '--reverify', '8s', '--attempts', '1', '--json']);
    expect((await publish()).code).toBe(0);
    const v1 = Buffer.from(readFileSync(db));
    await mkdir(path.dirname(live));
    expect((await sync()).code).toBe(0);
    const fullAt = t.clock.now().getTime();

    const update = new Database(db);
    update.prepare("UPDATE posts SET body = 'rev 2 ' || body WHERE id % 100 = 2").run();
    update.close();
    const v2 = readFileSync(db);
    // A page both versions share, corrupted on the pod's disk with its inode, size and mtime kept.
    const offset = sharedRowText(v1, v2);
    const reference = `${live}.times`;
    await writeFile(reference, '');
    execFileSync('touch', ['-r', live, reference]);
    await corruptByte(live, offset);
    execFileSync('touch', ['-r', reference, live]);

    t.clock.advance(1.1);
    expect((await publish()).code).toBe(0);
    const delta = await sync();
    expect(delta.code, delta.stdout).toBe(0);
    expect(delta.events.find((e) => e.event === 'agent.installed')).toMatchObject({ method: 'delta' });
    expect(sha256(live)).not.toBe(sha256(db)); // the delta proved only its own pages

    t.clock.advance(Math.max(0, fullAt + 8_500 - t.clock.now().getTime()) / 1000);
    const later = await sync();
    expect(later.code, later.stdout).toBe(0);
    expect(later.events.find((e) => e.event === 'agent.reverified')).toMatchObject({ ok: false });
    expect(sha256(live)).toBe(sha256(db));
  }, 60_000);

  it('refuses a manifest whose SHA-256 is wrong though its chunk root is right, rather than report that SHA-256', async () => {
    const n = t.next();
    const root = path.join(t.dir, `identity-${n}`);
    const db = path.join(t.dir, `identity-${n}.db`);
    makeContentDatabase(db, 50, 1);
    expect((await t.cli(['publish', db, '--store', root, '--git-sha', SHA_A])).code).toBe(0);
    const pointer = path.join(root, manifestKey(SHA_A));
    const manifest = manifestIn(await readFile(pointer, 'utf8'));
    await writeFile(pointer, serializeManifest({ ...manifest, database: { ...manifest.database, sha256: 'f'.repeat(64) } }));
    const live = path.join(t.dir, `pod-identity-${n}`, 'site.db');
    await mkdir(path.dirname(live));
    const result = await t.cli(['sync', '--database', live, '--git-sha', SHA_A, '--store', root, '--attempts', '1', '--json']);
    expect(errorOf(result)?.code).toBe('checksum-mismatch');
    expect(existsSync(live)).toBe(false);
  }, 60_000);
});

/** The offset of row text in a 4 KiB page (not the first) that two versions of a file share: flipping it breaks no structure. */
function sharedRowText(a: Buffer, b: Buffer): number {
  for (let page = a.length / 4096 - 1; page > 1; page--) {
    const start = page * 4096;
    if (!a.subarray(start, start + 4096).equals(b.subarray(start, start + 4096))) continue;
    const at = a.subarray(start, start + 4096).indexOf('Notes for release');
    if (at >= 0) return start + at + 1;
  }
  throw new Error('no shared page with row text');
}
