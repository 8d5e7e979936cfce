import { existsSync, readFileSync } from 'node:fs';
import { type ChildProcess, spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fromBase64, type Heartbeat, type Manifest, manifestKey, parseHeartbeats, serializeManifest, toBase64 } from '@sqlitening/contract';
import { describe, expect, it } from 'vitest';
import { signManifest } from '../src/signing/manifest-signature.js';
import { pageHashes } from './helpers/page-hashes.js';
import { chunkRoot } from '../src/wire/chunk-hashes.js';
import { CLI, runCli } from './helpers/cli.js';
import { makeContentDatabase, SHA_A } from './helpers/fixtures.js';
import { waitFor } from './helpers/poll.js';
import { servedStore } from './helpers/served-store.js';
import { attackerDatabase, errorOf, isSigned, manifestIn, notesOf, sha256, textOf, trustFixture } from './helpers/trust.js';

/*
 * Signed manifests, tried as an attacker who can write to the store but does not hold the signing key:
 * every way in must end with trusting pods holding only bytes the key holder signed, and a publisher
 * signing only what it verified. Publishers are the Action's dist/ under Node 24 and the CLI; pods are
 * the CLI and the agent; stores are an S3 server, folders and a folder served over HTTP.
 */

const t = trustFixture('signatures');
const s = servedStore('signatures-served');

describe('the publisher trusts only what it can verify', () => {
  it('does not re-sign a manifest a store writer planted beside the same bytes, and no pod installs their object', async () => {
    const { prefix, pod, n } = t.fresh('resign');
    const store = t.s3Store(prefix);
    const first = await t.ci(prefix, 'legit', { 'start-from': 'fresh' });
    expect(first.code, first.stdout).toBe(0);
    const legit = manifestIn(await textOf(store, manifestKey(SHA_A)));
    await mkdir(pod);
    expect((await t.podSync(pod, prefix)).code).toBe(0);

    // The attacker's object, with its own chunk list, named by a manifest that keeps the legit SHA-256 and is dated 2099.
    const evil = path.join(t.dir, `evil-${n}.db`);
    attackerDatabase(evil, 'attacker');
    const evilBytes = readFileSync(evil);
    const evilHashes = pageHashes(evil);
    await store.put(`${SHA_A}/evil.db`, evilBytes);
    await store.put(`${SHA_A}/evil.chunks`, evilHashes);
    const planted: Manifest = {
      ...legit,
      createdAt: '2099-01-01T00:00:00.000Z',
      database: { ...legit.database, size: evilBytes.length },
      object: { key: `${SHA_A}/evil.db`, encoding: 'identity', size: evilBytes.length },
      chunks: { size: 4096, count: evilHashes.length / 32, root: chunkRoot(evilHashes), key: `${SHA_A}/evil.chunks` },
      deltas: [],
    };
    await store.put(manifestKey(SHA_A), Buffer.from(serializeManifest(planted)));
    expect(errorOf(await t.podSync(pod, prefix))?.code).toBe('unsigned-manifest');

    // CI publishes the unchanged data again: the planted manifest is replaced, never signed.
    const again = await t.ci(prefix, 'legit', { 'start-from': 'fresh' });
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toContain('ignored-current');
    const text = await textOf(store, manifestKey(SHA_A));
    expect(isSigned(text)).toBe(true);
    const resigned = manifestIn(text);
    expect(resigned.object.key).not.toBe(planted.object.key);
    expect(resigned.database.sha256).toBe(legit.database.sha256); // the same bytes, as in the attack
    expect(resigned.chunks?.root).not.toBe(planted.chunks?.root);
    expect(resigned.createdAt < '2099').toBe(true);

    // A fresh trusting pod gets the legit bytes; the old one was never given a floor of 2099.
    const newPod = path.join(t.dir, `pod-resign-new-${n}`);
    await mkdir(newPod);
    const installed = await t.podSync(newPod, prefix);
    expect(installed.code, installed.stdout).toBe(0);
    expect(sha256(path.join(newPod, 'site.db'))).toBe(resigned.database.sha256);
    expect(notesOf(path.join(newPod, 'site.db'))).toEqual(['legit']);
    const next = await t.ci(prefix, 'legit, corrected', { 'start-from': 'fresh' });
    expect(next.code, next.stdout).toBe(0);
    const old = await t.podSync(pod, prefix);
    expect(old.code, old.stdout).toBe(0);
    expect(notesOf(path.join(pod, 'site.db'))).toEqual(['legit, corrected']);
  }, 120_000);

  it('the CLI publisher, too: the same bytes again over a planted manifest publish a new signed one', async () => {
    const n = t.next();
    const root = path.join(t.dir, `cli-resign-${n}`);
    const legit = path.join(t.dir, `legit-${n}.db`);
    makeContentDatabase(legit, 50, 1);
    const publish = () => t.cli(['publish', legit, '--store', root, '--git-sha', SHA_A, '--signing-key', t.keyFile, '--grace', '0s', '--json']);
    expect((await publish()).code).toBe(0);
    const pointer = path.join(root, manifestKey(SHA_A));
    const signed = manifestIn(await readFile(pointer, 'utf8'));
    await writeFile(pointer, serializeManifest({ ...signed, createdAt: '2099-01-01T00:00:00.000Z', object: { ...signed.object, key: `${SHA_A}/evil.db` } }));
    t.clock.advance(1.1);
    const again = await publish();
    expect(again.code, again.stderr).toBe(0);
    expect(again.events.find((e) => e.event === 'publish.ignored-current')).toMatchObject({ reason: 'unsigned-manifest' });
    expect(again.events.find((e) => e.event === 'result')).toMatchObject({ status: 'published' });
    const now = manifestIn(await readFile(pointer, 'utf8'));
    expect(now.object.key).not.toBe(`${SHA_A}/evil.db`);
    expect(now.createdAt < '2099').toBe(true);
  }, 60_000);

  it('refuses to build on an unsigned snapshot a store writer published, and signs nothing', async () => {
    const { prefix, pod, n } = t.fresh('from');
    const store = t.s3Store(prefix);
    expect((await t.ci(prefix, 'legit')).code).toBe(0);
    const evil = path.join(t.dir, `evil-from-${n}.db`);
    attackerDatabase(evil, 'attacker');
    const planted = await t.cli(
      ['publish', evil, '--store', `s3://trust/${prefix}`, '--endpoint', t.s3.endpoint, '--path-style', '--git-sha', SHA_A, '--grace', '0s', '--json'],
      { env: t.s3.env },
    );
    expect(planted.code, planted.stderr).toBe(0);

    const refresh = await t.ci(prefix, 'legit, refreshed');
    expect(refresh.code).not.toBe(0);
    expect(refresh.stdout).toContain('refusing to build on');
    expect(refresh.stdout).toContain('not signed');
    // The store still holds the attacker's unsigned manifest, which trusting pods refuse.
    expect(isSigned(await textOf(store, manifestKey(SHA_A)))).toBe(false);
    await mkdir(pod);
    const sync = await t.podSync(pod, prefix);
    expect(errorOf(sync)?.code).toBe('unsigned-manifest');
    expect(existsSync(path.join(pod, 'site.db'))).toBe(false);
  }, 120_000);
});

describe('the manifest names its database', () => {
  it('a pod with --name refuses another database copied into its folder; the publisher does not build on it', async () => {
    const n = t.next();
    const root = path.join(t.dir, `names-${n}`);
    const key = t.keyFile;
    for (const name of ['content', 'search']) {
      const db = path.join(t.dir, `${name}-${n}.db`);
      makeContentDatabase(db, 50, name === 'content' ? 1 : 2);
      const published = await t.cli(['publish', db, '--store', path.join(root, name), '--git-sha', SHA_A, '--signing-key', key, '--name', name]);
      expect(published.code, published.stderr).toBe(0);
    }
    await cp(path.join(root, 'search', SHA_A), path.join(root, 'content', SHA_A), { recursive: true, force: true });
    const pod = path.join(t.dir, `pod-names-${n}`);
    await mkdir(pod);
    const sync = () =>
      t.cli([
        'sync',
        '--database',
        path.join(pod, 'site.db'),
        '--git-sha',
        SHA_A,
        '--store',
        path.join(root, 'content'),
        '--trust-key',
        t.pubFile,
        '--name',
        'content',
        '--attempts',
        '1',
        '--json',
      ]);
    const refused = await sync();
    expect(errorOf(refused)?.code).toBe('wrong-database');
    expect(String(errorOf(refused)?.message)).toContain("'search'");
    expect(existsSync(path.join(pod, 'site.db'))).toBe(false);

    t.clock.advance(1.1);
    const again = await t.cli([
      'publish',
      path.join(t.dir, `content-${n}.db`),
      '--store',
      path.join(root, 'content'),
      '--git-sha',
      SHA_A,
      '--signing-key',
      key,
      '--name',
      'content',
      '--json',
    ]);
    expect(again.events.find((e) => e.event === 'publish.ignored-current')).toMatchObject({ reason: 'mismatch' });
    const manifest = manifestIn(await readFile(path.join(root, 'content', manifestKey(SHA_A)), 'utf8'));
    expect(manifest.name).toBe('content');
    expect(manifest.history).toEqual([]);
    expect((await sync()).code).toBe(0);
    expect(sha256(path.join(pod, 'site.db'))).toBe(sha256(path.join(t.dir, `content-${n}.db`)));
  }, 60_000);
});

/** A board stand-in on 127.0.0.1 that keeps every heartbeat it receives. */
async function heartbeatReceiver(): Promise<{ url: string; received: Heartbeat[]; server: Server }> {
  const received: Heartbeat[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(...parseHeartbeats(body));
      res.writeHead(202).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`, received, server: receiver };
}

/** A running agent process with its health server on a free port. */
async function startAgent(args: string[], boardUrl: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'agent',
      '--database',
      s.live(),
      '--git-sha',
      SHA_A,
      '--store',
      s.server.url,
      '--listen',
      '127.0.0.1:0',
      '--interval',
      '1s',
      '--jitter',
      '0',
      '--attempts',
      '1',
      '--json',
      '--board-url',
      boardUrl,
      '--cluster',
      'eu-west',
      '--pod',
      'web-1',
      ...args,
    ],
    { env: { PATH: process.env.PATH ?? '', SQLITENING_BOARD_SECRET: 'a-secret-of-16-chars', ...s.clock.env() }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve(`http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`);
    });
    child.on('exit', (code) => reject(new Error(`agent exited ${code}`)));
  });
  return { child, url };
}

describe('the policy a manifest was accepted under', () => {
  it('is checked again when the pod starts with another: a 304 keeps nothing a fresh pod would refuse', async () => {
    const keys = path.join(s.dir, `keys-${s.n}`);
    await mkdir(keys);
    for (const name of ['a', 'b']) expect((await runCli(['keygen', path.join(keys, name)])).code).toBe(0);
    const v1 = await s.publish(1, path.join(keys, 'a.key'));
    expect((await s.sync()).code).toBe(0);
    expect(sha256(s.live())).toBe(v1.database.sha256);
    expect((await s.sync()).events.at(-1)).toMatchObject({ status: 'not-modified' });
    // Restarted trusting only b (a leaked and dropped): refused, as a fresh pod would refuse it.
    const dropped = await s.sync('--trust-key', path.join(keys, 'b.pub'));
    expect(errorOf(dropped)?.code).toBe('untrusted-key');
    expect(dropped.code).toBe(3);
    // A name added that the manifest does not carry: refused.
    expect(errorOf(await s.sync('--trust-key', path.join(keys, 'a.pub'), '--name', 'www'))?.code).toBe('wrong-database');
    // Under a policy the manifest meets: read whole once, then 304s again.
    expect((await s.sync('--trust-key', path.join(keys, 'a.pub'))).events.at(-1)).toMatchObject({ status: 'unchanged' });
    expect((await s.sync('--trust-key', path.join(keys, 'a.pub'))).events.at(-1)).toMatchObject({ status: 'not-modified' });
    expect(sha256(s.live())).toBe(v1.database.sha256);
  });

  it('under a new policy, a manifest naming the same SHA-256 does not keep bytes that only the dropped key vouched for', async () => {
    const keys = path.join(s.dir, `keys-${s.n}`);
    await mkdir(keys);
    for (const name of ['a', 'b']) expect((await runCli(['keygen', path.join(keys, name)])).code).toBe(0);
    const real = await s.publish(1, path.join(keys, 'b.key'));
    const realText = await readFile(s.pointer(), 'utf8');
    // Key a, later found leaked, signed other bytes under the real snapshot's SHA-256 (a signed install proves the s.root).
    const hostileFile = path.join(s.dir, `hostile-${s.n}.db`);
    makeContentDatabase(hostileFile, 200, 99);
    const bytes = readFileSync(hostileFile);
    const hashes = pageHashes(hostileFile);
    const objectKey = `${SHA_A}/hostile.db`;
    await writeFile(path.join(s.root, objectKey), bytes);
    const forged: Manifest = {
      ...real,
      createdAt: new Date(Date.parse(real.createdAt) - 60_000).toISOString(),
      database: { ...real.database, size: bytes.length, pageCount: bytes.length / 4096 },
      object: { key: objectKey, encoding: 'identity', size: bytes.length },
      chunks: { size: 4096, count: bytes.length / 4096, root: chunkRoot(hashes), key: `${SHA_A}/hostile.chunks` },
      deltas: [],
      patches: [],
      history: [],
    };
    await writeFile(s.pointer(), signManifest(forged, createPrivateKey(readFileSync(path.join(keys, 'a.key')))));
    expect((await s.sync('--trust-key', path.join(keys, 'a.pub'))).code).toBe(0);
    expect(readFileSync(s.live()).equals(bytes)).toBe(true);
    // Key a dropped: the real manifest names the same SHA-256, but the live file is judged by its bytes.
    await writeFile(s.pointer(), realText);
    const after = await s.sync('--trust-key', path.join(keys, 'b.pub'));
    expect(after.code, after.stderr).toBe(0);
    expect(sha256(s.live())).toBe(real.database.sha256);
  });

  it('refuses a private key given as --trust-key, which would ship the signing key to every pod', async () => {
    const keys = path.join(s.dir, `keys-${s.n}`);
    await mkdir(keys);
    expect((await runCli(['keygen', path.join(keys, 'a')])).code).toBe(0);
    const result = await s.sync('--trust-key', path.join(keys, 'a.key'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('expected a public key, got a private one');
  });
});

describe('signed manifests', () => {
  it('keygen → publish signs → agent with --trust-key installs; refuses an untrusted key, a tampered byte, no signature and an older manifest', async () => {
    const keys = path.join(s.dir, `keys-${s.n}`);
    await mkdir(keys);
    for (const name of ['a', 'b', 'c']) expect((await runCli(['keygen', path.join(keys, name)])).code).toBe(0);
    expect((await runCli(['keygen', path.join(keys, 'a')])).code).toBe(2); // never overwrites a key

    const v1 = await s.publish(1, path.join(keys, 'a.key'));
    const v1Signed = await readFile(s.pointer(), 'utf8');
    expect(JSON.parse(v1Signed)).toMatchObject({ payloadType: 'application/vnd.sqlitening.manifest+json' });
    const board = await heartbeatReceiver();
    const agent = await startAgent(['--trust-key', path.join(keys, 'a.pub'), '--trust-key', path.join(keys, 'b.pub')], board.url);
    try {
      await waitFor('v1 installed', async () => (existsSync(s.live()) && sha256(s.live()) === v1.database.sha256 ? true : undefined));

      // Rotation: the next snapshot is signed with b, which the agent also trusts.
      const v2 = await s.publish(2, path.join(keys, 'b.key'));
      await waitFor('v2 installed', async () => (sha256(s.live()) === v2.database.sha256 ? true : undefined));
      const v2Signed = await readFile(s.pointer(), 'utf8');

      const cases: Array<[string, string]> = [
        ['untrusted-key', signManifest(v2, createPrivateKey(readFileSync(path.join(keys, 'c.key'))))],
        ['bad-signature', tamper(v2Signed)],
        ['unsigned-manifest', serializeManifest(v2)],
        ['rollback-refused', v1Signed],
      ];
      for (const [reason, text] of cases) {
        await writeFile(s.pointer(), text);
        const health = await waitFor(`healthz says ${reason}`, async () => {
          const body = (await (await fetch(`${agent.url}/healthz`, { headers: { accept: 'application/json' } })).json()) as {
            lastError: { code: string } | null;
          };
          return body.lastError?.code === reason ? body : undefined;
        });
        expect(health.lastError?.code).toBe(reason);
        expect(sha256(s.live())).toBe(v2.database.sha256);
        const metrics = await (await fetch(`${agent.url}/metrics`)).text();
        expect(metrics).toMatch(new RegExp(`sqlitening_sync_failures_total\\{reason="${reason}"\\} [1-9]`));
        await waitFor(`heartbeat says ${reason}`, async () => (board.received.at(-1)?.lastError?.startsWith(`${reason}:`) ? true : undefined));
      }
      await writeFile(s.pointer(), v2Signed);
    } finally {
      agent.child.kill('SIGTERM');
      await new Promise((resolve) => agent.child.once('exit', resolve));
      board.server.close();
    }

    // Rotation done: an agent that trusts only b refuses what a signed.
    await writeFile(s.pointer(), v1Signed);
    const onlyB = await s.sync('--trust-key', path.join(keys, 'b.pub'), '--allow-rollback');
    expect(errorOf(onlyB)?.code).toBe('untrusted-key');
    expect(onlyB.code).toBe(3);
  }, 120_000);
});

/** The envelope with one byte of its payload changed and the signature kept. */
function tamper(envelopeText: string): string {
  const envelope = JSON.parse(envelopeText) as { payload: string };
  const payload = fromBase64(envelope.payload);
  const text = new TextDecoder().decode(payload).replace('"rows": 200', '"rows": 201');
  expect(text).not.toBe(new TextDecoder().decode(payload));
  return JSON.stringify({ ...envelope, payload: toBase64(new TextEncoder().encode(text)) });
}
