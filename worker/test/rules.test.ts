import { describe, expect, it } from 'vitest';
import { readConfig } from '../src/config.js';
import { evaluateCluster, type PodRecord } from '../src/rules.js';

const rule = readConfig({}).rules;
const now = Date.parse('2026-11-26T12:00:00Z');

function pod(name: string, overrides: Partial<PodRecord> = {}): PodRecord {
  return {
    pod: name,
    lastHeartbeatAt: now - 30_000,
    appGitSha: 'a'.repeat(40),
    dbGitSha: 'a'.repeat(40),
    dbSha256: '1'.repeat(64),
    dbCreatedAt: now - 3_600_000,
    lastSuccessAt: now - 60_000,
    lastError: null,
    tasks: [{ name: 'database', ageSeconds: 60, limitSeconds: 600, ok: true }],
    store: null,
    ...overrides,
  };
}

describe('evaluateCluster (pure)', () => {
  it('is ok when pods are fresh, whatever the age of unchanged data', () => {
    expect(evaluateCluster('c', [pod('a'), pod('b')], [], rule, now)).toMatchObject({ state: 'ok', reasons: [] });
  });

  it('is stale when half the pods are (default share), not when fewer are', () => {
    const staleTask = { tasks: [{ name: 'database', ageSeconds: 900, limitSeconds: 600, ok: false }] };
    expect(evaluateCluster('c', [pod('a', staleTask), pod('b'), pod('c'), pod('d'), pod('e')], [], rule, now).state).toBe('ok');
    const verdict = evaluateCluster('c', [pod('a', staleTask), pod('b', { lastSuccessAt: now - 20 * 60_000 }), pod('c'), pod('d')], [], rule, now);
    expect(verdict.state).toBe('stale');
    expect(verdict.reasons).toEqual(['2 of 4 pods stale']);
    expect(verdict.pods[0]!.reasons).toEqual(['task database last succeeded 15m ago (limit 10m)']);
    expect(verdict.pods[1]!.reasons).toEqual(['last sync 20m ago']);
  });

  it('honours a count threshold and a database age limit', () => {
    const strict = { ...rule, staleCount: 1, maxDatabaseAge: 30 * 60_000 };
    expect(evaluateCluster('c', [pod('a'), pod('b', { dbCreatedAt: now - 10 * 60_000 })], [], strict, now).reasons).toEqual(['1 of 2 pods stale']);
  });

  it('is stale when silent, and when no pod ever reported', () => {
    expect(evaluateCluster('c', [pod('a', { lastHeartbeatAt: now - 11 * 60_000 })], [], rule, now).reasons).toEqual(['no heartbeat for 11m']);
    expect(evaluateCluster('c', [], [], rule, now).reasons).toEqual(['no pod has reported']);
  });

  it('flags pods left on an older snapshot of their commit after the skew limit', () => {
    const sightings = [
      { dbGitSha: 'a'.repeat(40), sha256: '1'.repeat(64), createdAt: now - 3_600_000, firstSeenAt: now - 3_600_000 },
      { dbGitSha: 'a'.repeat(40), sha256: '2'.repeat(64), createdAt: now - 20 * 60_000, firstSeenAt: now - 16 * 60_000 },
    ];
    const pods = [pod('old'), pod('new', { dbSha256: '2'.repeat(64), dbCreatedAt: now - 20 * 60_000 })];
    const verdict = evaluateCluster('c', pods, sightings, rule, now);
    expect(verdict.reasons).toEqual(['1 pod on an older snapshot']);
    expect(verdict.pods.find((p) => p.pod === 'old')).toMatchObject({ lagging: true });
    // Within the limit, a rollout in progress is not an incident.
    expect(evaluateCluster('c', pods, [sightings[0]!, { ...sightings[1]!, firstSeenAt: now - 5 * 60_000 }], rule, now).state).toBe('ok');
    // Pods of another commit are not compared with this one's snapshots.
    expect(evaluateCluster('c', [pod('other', { dbGitSha: 'b'.repeat(40) }), pods[1]!], sightings, rule, now).state).toBe('ok');
  });

  it('refuses a bad BOARD_CONFIG with the field named', () => {
    expect(() => readConfig({ BOARD_CONFIG: '{"podTtl": "forever"}' })).toThrow(
      /podTtl: expected a number with a unit \(500ms, 30s, 10m, 1h, 2d\), got "forever"/,
    );
  });
});
