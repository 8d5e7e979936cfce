import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Manifest, manifestKey } from '@sqlitening/contract';
import { describe, expect, it } from 'vitest';
import { makeContentDatabase, SHA_A } from './helpers/fixtures.js';
import { servedStore } from './helpers/served-store.js';
import { corruptByte, errorOf, manifestIn, notesOf, sha256, textOf, trustFixture } from './helpers/trust.js';

/*
 * Rollback floors: a pod keeps the createdAt of the newest manifest it installed for its commit and
 * refuses other bytes named by an older one, whoever put that manifest back in the store.
 */

const t = trustFixture('floors');
const s = servedStore('floors-served');

describe('rollback floors', () => {
  it('a replayed older manifest of the same bytes is no rollback: unchanged, and the floor stays where it was', async () => {
    const { prefix, pod } = t.fresh('replay');
    const store = t.s3Store(prefix);
    const texts: string[] = [];
    for (const body of ['A', 'B', 'A']) {
      const run = await t.ci(prefix, body, { 'start-from': 'fresh' });
      expect(run.code, run.stdout).toBe(0);
      texts.push(await textOf(store, manifestKey(SHA_A)));
    }
    const [a1, b, a2] = texts.map(manifestIn) as [Manifest, Manifest, Manifest];
    expect(a1.database.sha256).toBe(a2.database.sha256);
    await mkdir(pod);
    expect((await t.podSync(pod, prefix)).code).toBe(0);
    expect(notesOf(path.join(pod, 'site.db'))).toEqual(['A']);

    // The bytes it serves, named by an older manifest (another store or prefix, a mirror that lagged): unchanged.
    await store.put(manifestKey(SHA_A), Buffer.from(texts[0]!));
    const same = await t.podSync(pod, prefix);
    expect(same.code, same.stderr).toBe(0);
    expect(same.events.at(-1)).toMatchObject({ status: 'unchanged' });
    const state = JSON.parse(await readFile(path.join(pod, '.sqlitening', 'state.json'), 'utf8')) as { floor: { createdAt: string }; installed: Manifest };
    expect(state.floor.createdAt).toBe(a2.createdAt);
    expect(state.installed.createdAt).toBe(a2.createdAt);
    // Other bytes older than the floor: refused.
    await store.put(manifestKey(SHA_A), Buffer.from(texts[1]!));
    const replayed = await t.podSync(pod, prefix);
    expect(errorOf(replayed)?.code, `replay of the manifest created ${b.createdAt}`).toBe('rollback-refused');
    expect(notesOf(path.join(pod, 'site.db'))).toEqual(['A']);
  }, 120_000);

  it('a corrupt state file is an error that names itself, and nothing is reset', async () => {
    const n = t.next();
    const root = path.join(t.dir, `state-${n}`);
    const pod = path.join(t.dir, `pod-state-${n}`);
    const db = path.join(t.dir, `state-${n}.db`);
    makeContentDatabase(db, 50, 1);
    expect((await t.cli(['publish', db, '--store', root, '--git-sha', SHA_A, '--grace', '0s'])).code).toBe(0);
    const sync = () => t.cli(['sync', '--database', path.join(pod, 'site.db'), '--git-sha', SHA_A, '--store', root, '--attempts', '1', '--json']);
    await mkdir(pod);
    expect((await sync()).code).toBe(0);
    const stateFile = path.join(pod, '.sqlitening', 'state.json');
    expect(existsSync(stateFile)).toBe(true);
    await writeFile(stateFile, '{"version": 1, "installed": ');
    const result = await sync();
    expect(result.code).toBe(1);
    expect(errorOf(result)).toMatchObject({ code: 'state-corrupt' });
    expect(String(errorOf(result)?.message)).toContain(stateFile);
    expect(await readFile(stateFile, 'utf8')).toBe('{"version": 1, "installed": ');
  }, 60_000);

  it('a failed re-verification keeps the floor: an older signed manifest is still refused', async () => {
    const n = t.next();
    const root = path.join(t.dir, `reverify-${n}`);
    const pod = path.join(t.dir, `pod-reverify-${n}`);
    const pointer = path.join(root, manifestKey(SHA_A));
    const texts: string[] = [];
    for (const seed of [1, 2]) {
      const db = path.join(t.dir, `reverify-${n}-${seed}.db`);
      makeContentDatabase(db, 50, seed);
      const published = await t.cli(['publish', db, '--store', root, '--git-sha', SHA_A, '--signing-key', t.keyFile, '--grace', '0s']);
      expect(published.code).toBe(0);
      texts.push(await readFile(pointer, 'utf8'));
      t.clock.advance(1.1);
    }
    const live = path.join(pod, 'site.db');
    await mkdir(pod);
    const sync = (...extra: string[]) =>
      t.cli(['sync', '--database', live, '--git-sha', SHA_A, '--store', root, '--trust-key', t.pubFile, '--attempts', '1', '--json', ...extra]);
    expect((await sync()).code).toBe(0);
    // Installed under a trusted signature, so it is re-verified by its chunk root (which finds the corruption below).
    const state = JSON.parse(await readFile(path.join(pod, '.sqlitening', 'state.json'), 'utf8')) as { installedSignedBy: string | null };
    expect(state.installedSignedBy).toEqual(expect.any(String));
    const v2 = sha256(live);
    await corruptByte(live, 2 * 4096 - 10);
    await writeFile(pointer, texts[0]!);
    const result = await sync('--reverify', '1ms');
    expect(result.events.find((e) => e.event === 'agent.reverified')).toMatchObject({ ok: false });
    expect(errorOf(result)?.code).toBe('rollback-refused');
    // The pod keeps its file (corrupt now, so the next good manifest is a full download) and never takes v1.
    await writeFile(pointer, texts[1]!);
    expect((await sync()).code).toBe(0);
    expect(sha256(live)).toBe(v2);
  }, 60_000);
});

describe('rollback', () => {
  it('refuses an older manifest of the same commit, counts it, and installs it only with --allow-rollback', async () => {
    await s.publish(1);
    const older = await readFile(s.pointer(), 'utf8');
    const v2 = await s.publish(2);
    expect((await s.sync()).code).toBe(0);
    expect(sha256(s.live())).toBe(v2.database.sha256);
    await writeFile(s.pointer(), older);
    const refused = await s.sync();
    expect(refused.code).toBe(3);
    expect(errorOf(refused)?.code).toBe('rollback-refused');
    expect(sha256(s.live())).toBe(v2.database.sha256);
    const allowed = await s.sync('--allow-rollback');
    expect(allowed.code).toBe(0);
    expect(sha256(s.live())).toBe(manifestIn(older).database.sha256);
  });
});
