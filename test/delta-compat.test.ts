import Database from 'better-sqlite3';
import { copyFileSync, readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Manifest, manifestKey } from '@sqlitening/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishSnapshot } from '../src/publish/publish.js';
import { betterSqlite3Driver } from '../src/sqlite/better-sqlite3-driver.js';
import { LocalStore } from '../src/store/local-store.js';
import { type CliResult, runCli } from './helpers/cli.js';
import { makeContentDatabase, SHA_A, tempFolder } from './helpers/fixtures.js';
import { buildOldCli, FORMAT_1_COMMIT, hasCommit } from './helpers/old-agent.js';

/*
 * Pods are upgraded after the publisher, so a store published by this code must still serve agents that
 * read delta format 1 only: the agent of the last commit before format 2, compiled from the repository's
 * history, syncs from it by format-1 delta, while this agent takes the smaller format-2 one.
 */

let dir: string;
let cleanup: () => Promise<void>;
let oldCli: string;
const available = hasCommit(FORMAT_1_COMMIT);

beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('delta-compat'));
  if (available) oldCli = buildOldCli(FORMAT_1_COMMIT);
}, 180_000);
afterAll(() => cleanup());

function runOld(args: string[]): Promise<CliResult> {
  return runCli(args, { cli: oldCli, env: { HOME: dir } });
}

const installed = (result: CliResult) => result.events.find((e) => e.event === 'agent.installed');

describe.skipIf(!available)(`an agent that reads delta format 1 only (${FORMAT_1_COMMIT.slice(0, 12)}), against a store this code publishes`, () => {
  it('ignores the patches field, installs by format-1 delta one and two snapshots behind, byte for byte; this agent takes format 2', async () => {
    const root = path.join(dir, 'store');
    const store = new LocalStore(root);
    const file = path.join(dir, 'build.db');
    makeContentDatabase(file, 2000, 1);
    let clock = Date.now() + 86_400_000;
    const publish = async (bases: string[]): Promise<Manifest> => {
      clock += 60_000;
      const result = await publishSnapshot({
        store,
        sqlite: betterSqlite3Driver,
        database: file,
        gitSha: SHA_A,
        encoding: 'gzip',
        retention: { keep: 5, graceMs: 0 },
        check: true,
        baseFiles: bases,
        dryRun: false,
        tempDir: dir,
        now: () => new Date(clock),
      });
      return result.manifest;
    };
    const refresh = (revision: number) => {
      const db = new Database(file);
      db.prepare('UPDATE posts SET body = ? || body WHERE id % 100 = ?').run(`rev ${revision} `, revision % 100);
      db.close();
    };
    const snapshot = (name: string) => {
      const copy = path.join(dir, `${name}.db`);
      copyFileSync(file, copy);
      return copy;
    };
    const pods = { old: path.join(dir, 'old', 'site.db'), behind: path.join(dir, 'behind', 'site.db'), current: path.join(dir, 'new', 'site.db') };
    for (const pod of Object.values(pods)) await mkdir(path.dirname(pod), { recursive: true });
    const sync = (cli: (args: string[]) => Promise<CliResult>, database: string) =>
      cli(['sync', '--database', database, '--store', root, '--git-sha', SHA_A, '--attempts', '1', '--json']);

    await publish([]);
    for (const pod of Object.values(pods)) {
      const cli = pod === pods.current ? runCli : runOld;
      expect(installed(await sync(cli, pod)), pod).toMatchObject({ method: 'full' });
    }
    const v1File = snapshot('v1');
    refresh(2);
    const v2 = await publish([v1File]);
    expect(v2.deltas).toHaveLength(1);
    expect(v2.patches).toHaveLength(1);

    // The old contract reads the new manifest: the field it does not know is dropped (zod's default for
    // objects), not refused, and nothing else changes.
    const oldContract = (await import(pathToFileURL(path.join(path.dirname(oldCli), '..', 'packages', 'contract', 'lib', 'index.js')).href)) as {
      parseManifestJson: (text: string) => Record<string, unknown>;
    };
    const text = await readFile(path.join(root, manifestKey(SHA_A)), 'utf8');
    const seenByOld = oldContract.parseManifestJson(text);
    expect(seenByOld).not.toHaveProperty('patches');
    expect(seenByOld.deltas).toEqual(v2.deltas);

    const old = await sync(runOld, pods.old);
    expect(old.code, old.stderr).toBe(0);
    expect(installed(old)).toMatchObject({ method: 'delta', bytes: v2.deltas[0]!.size, fallback: null });
    expect(readFileSync(pods.old).equals(readFileSync(file))).toBe(true);
    const current = await sync(runCli, pods.current);
    expect(installed(current)).toMatchObject({ method: 'delta', bytes: v2.patches[0]!.size, fallback: null });
    expect(readFileSync(pods.current).equals(readFileSync(file))).toBe(true);

    // Two snapshots behind: format 1 is published from every base, so the old agent still takes a delta.
    const v2File = snapshot('v2');
    refresh(3);
    const v3 = await publish([v2File, v1File]);
    expect(v3.deltas.map((d) => d.base.sha256)).toEqual(v3.history.map((h) => h.sha256));
    const behind = await sync(runOld, pods.behind);
    expect(installed(behind)).toMatchObject({ method: 'delta', bytes: v3.deltas[1]!.size, fallback: null });
    expect(readFileSync(pods.behind).equals(readFileSync(file))).toBe(true);
    // One snapshot behind, on the standby it kept: in place.
    const again = await sync(runOld, pods.old);
    expect(installed(again)).toMatchObject({ method: 'delta', bytes: v3.deltas[0]!.size });
    expect(readFileSync(pods.old).equals(readFileSync(file))).toBe(true);
  });
});
