import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { manifestKey } from '@sqlitening/contract';
import { describe, expect, it } from 'vitest';
import { makeContentDatabase, SHA_A } from './helpers/fixtures.js';
import { errorOf, manifestIn, sha256, trustFixture } from './helpers/trust.js';

/*
 * A signed manifest's expiry (publish --expires-in): past it, no pod installs the manifest or keeps
 * serving under it as if the store were fresh, and a publisher signs a new one rather than renew it.
 * Time passes on the test's clock: the children run ahead of the real one.
 */

const t = trustFixture('expiry');

it('a pod with no state gets a floor from the signed expiry; an unchanged publish renews it', async () => {
  const n = t.next();
  const root = path.join(t.dir, `expiry-${n}`);
  const pointer = path.join(root, manifestKey(SHA_A));
  const db = path.join(t.dir, `expiry-${n}.db`);
  makeContentDatabase(db, 50, 1);
  const publish = (expiresIn: string) =>
    t.cli(['publish', db, '--store', root, '--git-sha', SHA_A, '--signing-key', t.keyFile, '--expires-in', expiresIn, '--json']);
  expect((await publish('2s')).code).toBe(0);
  const old = await readFile(pointer, 'utf8');
  t.clock.advance(2.1);
  await mkdir(path.join(t.dir, `pod-expiry-${n}`));
  const pull = (target: string) =>
    t.cli(['sync', '--database', target, '--git-sha', SHA_A, '--store', root, '--trust-key', t.pubFile, '--attempts', '1', '--json']);
  const expired = await pull(path.join(t.dir, `pod-expiry-${n}`, 'site.db'));
  expect(errorOf(expired)?.code).toBe('manifest-expired');
  expect(existsSync(path.join(t.dir, `pod-expiry-${n}`, 'site.db'))).toBe(false);

  // An expired manifest is not renewed as it is (it may be an old one put back): a new one is signed.
  const fresh = await publish('1h');
  expect(fresh.events.find((e) => e.event === 'publish.ignored-current')).toMatchObject({ reason: 'mismatch' });
  expect(fresh.events.find((e) => e.event === 'result')).toMatchObject({ status: 'published' });
  const first = manifestIn(await readFile(pointer, 'utf8'));
  expect(Date.parse(first.createdAt)).toBeGreaterThan(Date.parse(manifestIn(old).createdAt));
  expect((await pull(path.join(t.dir, `pod-expiry-${n}`, 'site.db'))).code).toBe(0);
  // One that has not expired is renewed: the same snapshot, a later expiry.
  t.clock.advance(1.1);
  const renewed = await publish('2h');
  expect(renewed.events.find((e) => e.event === 'result')).toMatchObject({ status: 'unchanged' });
  const now = manifestIn(await readFile(pointer, 'utf8'));
  expect(now.createdAt).toBe(first.createdAt);
  expect(Date.parse(now.expiresAt!)).toBeGreaterThan(Date.parse(first.expiresAt!));

  // The one-shot pull keeps no floor, but the expiry holds for it too.
  await writeFile(pointer, old);
  const pulled = await t.cli(['pull', path.join(t.dir, `pulled-${n}.db`), '--git-sha', SHA_A, '--store', root, '--trust-key', t.pubFile, '--json']);
  expect(errorOf(pulled)?.code).toBe('manifest-expired');
}, 60_000);
describe('freezes', () => {
  it('a store that answers "not modified" past the installed manifest’s expiry fails the run (manifest-expired)', async () => {
    const n = t.next();
    const root = path.join(t.dir, `freeze-${n}`);
    const db = path.join(t.dir, `freeze-${n}.db`);
    makeContentDatabase(db, 50, 1);
    const key = t.keyFile;
    expect((await t.cli(['publish', db, '--store', root, '--git-sha', SHA_A, '--signing-key', key, '--expires-in', '3s'])).code).toBe(0);
    const live = path.join(t.dir, `pod-freeze-${n}`, 'site.db');
    await mkdir(path.dirname(live));
    const sync = () => t.cli(['sync', '--database', live, '--git-sha', SHA_A, '--store', root, '--trust-key', t.pubFile, '--attempts', '1', '--json']);
    expect((await sync()).code).toBe(0);
    expect((await sync()).events.find((e) => e.event === 'result')).toMatchObject({ status: 'not-modified' });
    t.clock.advance(3.1);
    const frozen = await sync();
    expect(errorOf(frozen)?.code).toBe('manifest-expired');
    expect(sha256(live)).toBe(sha256(db)); // the pod keeps serving what it has
  }, 60_000);
});
