import { existsSync } from 'node:fs';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { manifestKey } from '@sqlitening/contract';
import { describe, expect, it } from 'vitest';
import { makeContentDatabase, SHA_A } from './helpers/fixtures.js';
import { errorOf, manifestIn, textOf, trustFixture } from './helpers/trust.js';

/* `build --from published` and the Action's start-from: CI builds on a snapshot only if it can prove it. */

const t = trustFixture('start-from');

describe("the build's starting point", () => {
  /** A folder store with one signed snapshot per `seed`, each published a second apart on the test's clock; returns their manifest texts. */
  async function signedHistory(seeds: number[], extra: string[] = []): Promise<{ root: string; texts: string[]; n: number }> {
    const n = t.next();
    const root = path.join(t.dir, `start-${n}`);
    const texts: string[] = [];
    for (const seed of seeds) {
      const db = path.join(t.dir, `start-${n}-${seed}.db`);
      makeContentDatabase(db, 50, seed);
      const published = await t.cli(['publish', db, '--store', root, '--git-sha', SHA_A, '--signing-key', t.keyFile, '--grace', '0s', ...extra]);
      expect(published.code, published.stderr).toBe(0);
      texts.push(await readFile(path.join(root, manifestKey(SHA_A)), 'utf8'));
      t.clock.advance(1.1);
    }
    return { root, texts, n };
  }
  const build = (root: string, output: string, ...extra: string[]) =>
    t.cli(['build', '--from', 'published', '--store', root, '--git-sha', SHA_A, '--output', output, '--loader', 'true', '--json', ...extra]);

  it('refuses to build on an expired signed manifest a store writer put back (the signed expiry holds for CI as for pods)', async () => {
    const { root, texts, n } = await signedHistory([1, 2], ['--expires-in', '2s']);
    t.clock.advance(2.1); // the first manifest's expiry has passed
    await writeFile(path.join(root, manifestKey(SHA_A)), texts[0]!);
    const result = await build(root, path.join(t.dir, `expired-${n}.db`), '--trust-key', t.pubFile);
    expect(errorOf(result)).toMatchObject({ code: 'manifest-expired' });
    expect(result.code).toBe(3);
    expect(existsSync(path.join(t.dir, `expired-${n}.db`))).toBe(false);
  }, 60_000);

  it('the Action (dist/, Node 24) refuses to start from an expired signed manifest a store writer put back', async () => {
    const { prefix } = t.fresh('expired-start');
    const store = t.s3Store(prefix);
    expect((await t.ci(prefix, 'old', { 'expires-in': '2s' })).code).toBe(0);
    const old = await textOf(store, manifestKey(SHA_A));
    expect((await t.ci(prefix, 'banned', { 'start-from': 'published', 'expires-in': '1h' })).code).toBe(0);
    t.clock.advance(2.1);
    await store.put(manifestKey(SHA_A), Buffer.from(old));
    const run = await t.ci(prefix, 'refresh', { 'start-from': 'published', 'expires-in': '1h' });
    expect(run.code).not.toBe(0);
    expect(run.stdout).toMatch(/manifest.json expired at /);
    expect(await textOf(store, manifestKey(SHA_A))).toBe(old);
  }, 120_000);

  it('with several stores, starts from the newest manifest any of them proves (a writer of one store cannot roll CI back)', async () => {
    const { root, texts, n } = await signedHistory([1, 2]);
    const mirror = path.join(t.dir, `start-mirror-${n}`);
    await cp(root, mirror, { recursive: true });
    // The first store's manifest put back to the older one, still within any expiry.
    await writeFile(path.join(root, manifestKey(SHA_A)), texts[0]!);
    const output = path.join(t.dir, `rolled-${n}.db`);
    const result = await t.cli([
      'build',
      '--from',
      'published',
      '--store',
      root,
      '--store',
      mirror,
      '--git-sha',
      SHA_A,
      '--output',
      output,
      '--loader',
      'true',
      '--trust-key',
      t.pubFile,
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const newest = manifestIn(texts[1]!);
    expect(result.events.find((e) => e.event === 'from-published')).toMatchObject({ key: newest.object.key, sha256: newest.database.sha256 });
  }, 60_000);

  it('publish --signing-key refuses a database built on a snapshot no trusted key proved, unless told the store is trusted', async () => {
    const { root, n } = await signedHistory([1]);
    const output = path.join(t.dir, `unproven-${n}.db`);
    const publish = (...extra: string[]) =>
      t.cli(['publish', output, '--store', root, '--git-sha', SHA_A, '--signing-key', t.keyFile, '--grace', '0s', '--json', ...extra]);
    // Built without --trust-key: the store was trusted, so signing would vouch for whatever a writer put there.
    expect((await build(root, output)).code).toBe(0);
    const refused = await publish();
    expect(errorOf(refused)).toMatchObject({ code: 'unproven-start' });
    expect(refused.code).toBe(3);
    expect(String(errorOf(refused)?.message)).toContain('--trust-key');
    expect((await publish('--allow-unproven-start')).code).toBe(0);
    // Built with the signing key's public half as --trust-key: proven, signed.
    t.clock.advance(1.1);
    const proven = await build(root, output, '--trust-key', t.pubFile);
    expect(proven.events.at(-1)).toMatchObject({ startedFrom: { provenBy: expect.stringMatching(/^[0-9a-f]{16}$/) } });
    expect((await publish()).code).toBe(0);
    // A fresh build leaves no record behind: nothing to refuse.
    expect((await t.cli(['build', '--output', output, '--loader', 'true'])).code).toBe(0);
    expect(existsSync(`${output}.start.json`)).toBe(false);
  }, 60_000);
});
