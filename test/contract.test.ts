import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  assertPodName,
  compactUtc,
  ContractError,
  fromBase64,
  toBase64,
  formatDuration,
  type Heartbeat,
  manifestKey,
  parseDuration,
  parseGitSha,
  parseCommitsResponse,
  parseHeartbeats,
  parseManifest,
  parseManifestJson,
  parseSnapshotKey,
  POD_NAME_PATTERN,
  serializeManifest,
  signatureHeaders,
  signBody,
  snapshotKey,
  validate,
  verifySignature,
  z,
} from '@sqlitening/contract';
import { planRetention } from '../src/publish/retention.js';
import { VERSION } from '../src/version.js';
import { SHA_A, SHA_B, sampleManifest } from './helpers/fixtures.js';

describe('manifest', () => {
  it('round-trips a valid manifest', () => {
    const manifest = sampleManifest();
    expect(parseManifestJson(serializeManifest(manifest))).toEqual(manifest);
  });

  it('ignores unknown fields at any depth', () => {
    const extended = { ...sampleManifest(), merkle: [1, 2], database: { ...sampleManifest().database, newStat: 1 } };
    const parsed = parseManifest(extended);
    expect(parsed).toEqual(sampleManifest());
    expect('merkle' in parsed).toBe(false);
  });

  it('rejects a missing field, naming it', () => {
    const { database, ...rest } = sampleManifest();
    const { sha256: _omitted, ...withoutSha } = database;
    expect(() => parseManifest({ ...rest, database: withoutSha })).toThrow(
      /^invalid manifest: database\.sha256: expected string, received undefined, got nothing$/,
    );
  });

  it('rejects an invalid field with what was expected and what came', () => {
    const bad = sampleManifest();
    (bad.object as { size: number }).size = -5;
    (bad.database as { sha256: string }).sha256 = 'XYZ';
    try {
      parseManifest(bad);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ContractError);
      const problems = (error as ContractError).problems;
      expect(problems).toContain('database.sha256: expected a SHA-256 (64 lowercase hex digits), got "XYZ"');
      expect(problems.some((p) => p.startsWith('object.size:') && p.endsWith('got -5'))).toBe(true);
    }
  });

  it('refuses another format version rather than guess', () => {
    expect(() => parseManifest({ ...sampleManifest(), version: 2 })).toThrow(/version: unsupported manifest version; this reader understands version 1, got 2/);
  });

  it('refuses an unknown encoding', () => {
    const bad = { ...sampleManifest(), object: { ...sampleManifest().object, encoding: 'lz4' } };
    expect(() => parseManifest(bad)).toThrow(/object\.encoding: .*"identity"\|"gzip"\|"br"\|"zstd", got "lz4"/);
  });

  it('explains text that is not JSON', () => {
    expect(() => parseManifestJson('<html>')).toThrow(/^invalid manifest: expected JSON, got text that does not parse/);
  });
});

describe('key layout', () => {
  it('names snapshots by commit, time and hash, and parses them back', () => {
    const createdAt = new Date('2026-11-26T06:11:30.123Z');
    const key = snapshotKey({ gitSha: SHA_A, createdAt, sha256: 'f'.repeat(64), encoding: 'gzip' });
    expect(key).toBe(`${SHA_A}/20261126T061130Z-ffffffffffffffff.db.gz`);
    expect(parseSnapshotKey(key)).toEqual({
      gitSha: SHA_A,
      createdAt: new Date('2026-11-26T06:11:30Z'),
      sha256Prefix: 'f'.repeat(16),
      encoding: 'gzip',
    });
    expect(parseSnapshotKey(snapshotKey({ gitSha: SHA_B, createdAt, sha256: '0'.repeat(64), encoding: 'identity' }))?.encoding).toBe('identity');
    expect(parseSnapshotKey(manifestKey(SHA_A))).toBeUndefined();
    expect(compactUtc(new Date('2027-01-02T03:04:05Z'))).toBe('20270102T030405Z');
  });
});

describe('git sha', () => {
  it('accepts full shas and refuses the rest with the source named', () => {
    expect(parseGitSha(`${SHA_A}\n`, 'git')).toBe(SHA_A);
    expect(parseGitSha('e'.repeat(64), 'x')).toBe('e'.repeat(64));
    expect(() => parseGitSha('abc123', '--git-sha')).toThrow(
      'invalid git sha from --git-sha: expected a full commit sha (40 or 64 lowercase hex digits), got "abc123"',
    );
    expect(() => parseGitSha('A'.repeat(40), 'GITHUB_SHA')).toThrow(/\(use lower case\)/);
  });
});

function heartbeat(overrides: Partial<Heartbeat> = {}): Heartbeat {
  return {
    version: 1,
    cluster: 'eu-west',
    pod: 'web-7f9c-abcde',
    sentAt: '2026-11-26T06:00:00Z',
    appGitSha: SHA_A,
    database: { gitSha: SHA_A, sha256: 'c'.repeat(64), createdAt: '2026-11-26T05:55:00Z' },
    lastRunAt: '2026-11-26T06:00:00Z',
    lastSuccessAt: '2026-11-26T06:00:00Z',
    lastError: null,
    tasks: [{ name: 'database', ageSeconds: 12, limitSeconds: 600, ok: true }],
    ...overrides,
  };
}

describe('heartbeat', () => {
  it('parses one heartbeat or a batch', () => {
    expect(parseHeartbeats(JSON.stringify(heartbeat()))).toHaveLength(1);
    expect(parseHeartbeats(JSON.stringify([heartbeat(), heartbeat({ pod: 'web-2' })]))).toHaveLength(2);
  });

  it('rejects bad fields and empty batches', () => {
    expect(() => parseHeartbeats(JSON.stringify(heartbeat({ cluster: 'no spaces' })))).toThrow(/cluster/);
    expect(() => parseHeartbeats('[]')).toThrow(ContractError);
    expect(() => parseHeartbeats('{')).toThrow(/expected JSON/);
  });

  it('takes DNS-style pod names up to 253 characters, and nothing that could be markup', () => {
    const dns = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    expect(dns).toHaveLength(253);
    for (const pod of ['web-7f9c-abcde', 'ip-10-0-1-12.eu-west-1.compute.internal', 'worker_3', dns]) {
      expect(parseHeartbeats(JSON.stringify(heartbeat({ pod })))[0]!.pod).toBe(pod);
    }
    for (const pod of [
      'web-1` <!channel> <https://evil.example/login|Re-authenticate>',
      '<script>',
      'a b',
      '-leading-dash',
      '',
      `${dns}e`,
      'web*1*',
      'pod\nnext',
    ]) {
      expect(() => parseHeartbeats(JSON.stringify(heartbeat({ pod }))), pod).toThrow(
        /invalid heartbeat: pod: expected 1-253 letters, digits, dots, dashes or underscores, starting with a letter or digit/,
      );
    }
    expect(POD_NAME_PATTERN.test('web-1')).toBe(true);
    expect(() => assertPodName('web 1', '--pod')).toThrow('invalid --pod: expected 1-253 letters');
  });
});

describe('live commits (GET /v1/commits)', () => {
  const commit = {
    gitSha: 'a'.repeat(40),
    pods: 3,
    lastSeenAt: '2026-11-26T06:00:00.000Z',
    clusters: [{ cluster: 'eu-west', pods: 3, lastSeenAt: '2026-11-26T06:00:00.000Z' }],
  };

  it('parses the board answer', () => {
    expect(parseCommitsResponse(JSON.stringify({ commits: [commit] }))).toEqual({ commits: [commit] });
    expect(parseCommitsResponse('{"commits": []}')).toEqual({ commits: [] });
  });

  it('names the field that breaks the contract', () => {
    expect(() => parseCommitsResponse(JSON.stringify({ commits: [{ ...commit, gitSha: 'HEAD' }] }))).toThrow(
      /invalid board commits: commits\.0\.gitSha: expected a full git commit sha/,
    );
    expect(() => parseCommitsResponse(JSON.stringify({ commits: [{ ...commit, pods: -1 }] }))).toThrow(/commits\.0\.pods/);
    expect(() =>
      parseCommitsResponse(JSON.stringify({ commits: [{ ...commit, clusters: [{ cluster: '<b>', pods: 1, lastSeenAt: commit.lastSeenAt }] }] })),
    ).toThrow(/commits\.0\.clusters\.0\.cluster/);
    expect(() => parseCommitsResponse('[]')).toThrow(ContractError);
    expect(() => parseCommitsResponse('<html>')).toThrow(/invalid board commits: expected JSON/);
  });
});

describe('validate', () => {
  it('quotes the value that failed, unless told not to (secrets, URLs with tokens)', () => {
    const schema = z.object({ key: z.string().min(16, 'expected at least 16 characters') });
    expect(() => validate(schema, { key: 'hunter2-short' }, 'SECRETS')).toThrow('invalid SECRETS: key: expected at least 16 characters, got "hunter2-short"');
    let error: unknown;
    try {
      validate(schema, { key: 'hunter2-short' }, 'SECRETS', { showInput: false });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ContractError);
    expect((error as ContractError).message).toBe('invalid SECRETS: key: expected at least 16 characters (value not shown)');
    expect(JSON.stringify(error) + String((error as ContractError).problems) + String((error as Error).stack)).not.toContain('hunter2');
  });
});

describe('signature', () => {
  const body = JSON.stringify(heartbeat());
  const now = Date.parse('2026-11-26T06:00:00Z');

  it('verifies what it signed', async () => {
    const headers = await signatureHeaders('s3cret', body, now);
    const check = await verifySignature({
      secret: 's3cret',
      body,
      timestamp: headers['x-sqlitening-timestamp']!,
      signature: headers['x-sqlitening-signature']!,
      now,
    });
    expect(check).toBe('ok');
    expect(headers['x-sqlitening-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
  });

  it('says why a signature is refused', async () => {
    const ts = String(now / 1000);
    const good = await signBody('s3cret', now / 1000, body);
    expect(await verifySignature({ secret: 'other', body, timestamp: ts, signature: good, now })).toBe('mismatch');
    expect(await verifySignature({ secret: 's3cret', body: `${body} `, timestamp: ts, signature: good, now })).toBe('mismatch');
    expect(await verifySignature({ secret: 's3cret', body, timestamp: ts, signature: good, now: now + 301_000 })).toBe('expired');
    expect(await verifySignature({ secret: 's3cret', body, timestamp: null, signature: good, now })).toBe('missing');
    expect(await verifySignature({ secret: 's3cret', body, timestamp: ts, signature: 'v1=zz', now })).toBe('malformed');
    expect(await verifySignature({ secret: 's3cret', body, timestamp: 'soon', signature: good, now })).toBe('malformed');
  });
});

describe('retention', () => {
  const now = new Date('2026-11-26T12:00:00Z');
  const object = (gitSha: string, hour: number, sha: string) => ({
    key: snapshotKey({ gitSha, createdAt: new Date(Date.UTC(2026, 10, 26, hour)), sha256: sha.repeat(64), encoding: 'gzip' as const }),
    size: 1,
    etag: '"x"',
    lastModified: new Date(Date.UTC(2026, 10, 26, hour)),
  });

  it('keeps the newest per commit, the young, and the protected; ignores other files', () => {
    const objects = [
      object(SHA_A, 1, '1'),
      object(SHA_A, 2, '2'),
      object(SHA_A, 3, '3'),
      object(SHA_A, 11, '4'),
      object(SHA_B, 1, '5'),
      { key: manifestKey(SHA_A), size: 1, etag: '"m"', lastModified: new Date(0) },
    ];
    const doomed = planRetention(objects, { keep: 1, graceMs: 2 * 3_600_000 }, now, new Set([objects[1]!.key]));
    // A-11h is newest (kept), A-2h is protected, B-1h is B's newest; A-1h and A-3h go.
    expect(doomed.map((o) => o.key).sort()).toEqual([objects[0]!.key, objects[2]!.key].sort());
    expect(planRetention(objects, { keep: 1, graceMs: 24 * 3_600_000 }, now, new Set())).toEqual([]);
  });
});

describe('small helpers', () => {
  it('parses and formats durations', () => {
    expect(parseDuration('90s', 'x')).toBe(90_000);
    expect(parseDuration('1.5h', 'x')).toBe(5_400_000);
    expect(() => parseDuration('10', '--grace')).toThrow('invalid --grace: expected a number with a unit (500ms, 30s, 10m, 1h, 2d), got "10"');
    expect(formatDuration(3_725_000)).toBe('1h2m5s');
  });

  it('keeps VERSION equal to package.json', () => {
    expect(VERSION).toBe(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version);
  });
});

describe('DSSE envelopes', () => {
  it('refuses base64 that does not decode as a contract error, not a crash', () => {
    for (const bad of ['A', 'A=', 'AB=', 'AB!C']) expect(() => fromBase64(bad), bad).toThrow(ContractError);
    expect(Array.from(fromBase64(toBase64(new Uint8Array([0, 1, 254, 255]))))).toEqual([0, 1, 254, 255]);
  });
});

describe('the contract package', () => {
  it('imports nothing from Node, so the board can load it in workerd', async () => {
    const { readdirSync } = await import('node:fs');
    const folder = new URL('../packages/contract/src/', import.meta.url);
    for (const file of readdirSync(folder)) {
      const source = readFileSync(new URL(file, folder), 'utf8');
      const imports = [...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
      expect(
        imports.filter((name) => !name.startsWith('./') && name !== 'zod'),
        file,
      ).toEqual([]);
    }
  });

  it('is the only home of the helpers the agent, the Action and the board share', async () => {
    const { execFileSync } = await import('node:child_process');
    // Each of these was once written twice; a second definition outside the package is a copy to remove.
    const helpers = ['escapeHtml', 'formatAge', 'formatDuration', 'formatBytes', 'parseDuration', 'toHex', 'fromHex', 'assertName', 'NAME_PATTERN'];
    for (const name of helpers) {
      const pattern = `(function|const|let) ${name}\\b`;
      const found = execFileSync('git', ['grep', '--untracked', '-lE', pattern, '--', 'src', 'worker/src', 'packages'], { encoding: 'utf8' })
        .trim()
        .split('\n');
      expect(found, name).toEqual([expect.stringMatching(/^packages\/contract\/src\//)]);
    }
  });
});
