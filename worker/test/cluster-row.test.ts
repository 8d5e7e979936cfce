import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { ClusterBoard } from '../src/cluster-board.js';
import {
  claimCluster,
  clearState,
  enterState,
  readAlertState,
  readClusterName,
  readReportedAt,
  readStateSince,
  readTokenBucket,
  recordAlertAt,
  recordReportedAt,
  storeTokenBucket,
} from '../src/cluster-row.js';

/** A cluster object of its own that no request has named, so the row does not exist yet. */
const unclaimed = (name: string) => env.CLUSTERS.get(env.CLUSTERS.idFromName(`cluster-row-test-${name}`));

describe("a cluster object's row", () => {
  it('does not exist until the object is claimed: the name reads as null, anything else fails', async () => {
    await runInDurableObject(unclaimed('before'), (_: ClusterBoard, state) => {
      const { sql } = state.storage;
      expect(readClusterName(sql)).toBeNull();
      expect(() => readReportedAt(sql)).toThrow();
      expect(() => readAlertState(sql)).toThrow();
    });
  });

  it('starts empty once claimed, keeps what each writer records, and refuses a second claim', async () => {
    await runInDurableObject(unclaimed('claimed'), (_: ClusterBoard, state) => {
      const { sql } = state.storage;
      claimCluster(sql, 'eu-west');
      expect(readClusterName(sql)).toBe('eu-west');
      expect(readAlertState(sql)).toEqual({ state: null, lastAlertAt: null });
      expect(readStateSince(sql)).toBeNull();
      expect(readTokenBucket(sql)).toEqual({ tokens: null, at: null });
      expect(readReportedAt(sql)).toBeNull();

      enterState(sql, 'stale', 1000);
      recordAlertAt(sql, 1001);
      storeTokenBucket(sql, 12.5, 1002);
      recordReportedAt(sql, 1003);
      expect(readAlertState(sql)).toEqual({ state: 'stale', lastAlertAt: 1001 });
      expect(readStateSince(sql)).toBe(1000);
      expect(readTokenBucket(sql)).toEqual({ tokens: 12.5, at: 1002 });
      expect(readReportedAt(sql)).toBe(1003);

      // A cluster scaled away forgets its state, not its bucket or its last report.
      clearState(sql);
      expect(readAlertState(sql)).toEqual({ state: null, lastAlertAt: null });
      expect(readStateSince(sql)).toBeNull();
      expect(readTokenBucket(sql)).toEqual({ tokens: 12.5, at: 1002 });
      expect(readReportedAt(sql)).toBe(1003);

      expect(() => claimCluster(sql, 'us-east')).toThrow(/UNIQUE constraint failed/);
      expect(readClusterName(sql)).toBe('eu-west');
    });
  });
});
