import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Manifest, manifestKey } from '@sqlitening/contract';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { type CliResult, runCli } from './cli.js';
import { type TestClock, testClock } from './clock.js';
import { FaultServer } from './fault-server.js';
import { makeContentDatabase, SHA_A, tempFolder } from './fixtures.js';
import { manifestIn } from './trust.js';

/** Per test: a folder store served over HTTP by a server that can be told to misbehave, an empty pod folder and a clock. */
export interface ServedStore {
  /** The file's temporary folder. */
  readonly dir: string;
  /** The current test's number. */
  readonly n: number;
  /** The store's folder. */
  readonly root: string;
  readonly pod: string;
  readonly server: FaultServer;
  readonly clock: TestClock;
  /** The pod's live database. */
  live(): string;
  /** The manifest of SHA_A in the store. */
  pointer(): string;
  /** Publishes a new content database for SHA_A through the CLI, signed when a key is given; returns its manifest. */
  publish(seed: number, signingKey?: string): Promise<Manifest>;
  /** One sync of SHA_A through the HTTP server, with --json. */
  sync(...extra: string[]): Promise<CliResult>;
}

export function servedStore(label: string): ServedStore {
  let dir = '';
  let cleanup: () => Promise<void> = async () => {};
  let n = 0;
  let root = '';
  let pod = '';
  let server: FaultServer;
  let clock = testClock();
  beforeAll(async () => {
    ({ dir, cleanup } = await tempFolder(label));
  });
  afterAll(() => cleanup());
  beforeEach(async () => {
    n++;
    root = path.join(dir, `store-${n}`);
    pod = path.join(dir, `pod-${n}`);
    clock = testClock();
    await mkdir(root);
    await mkdir(pod);
    server = new FaultServer(root);
    await server.start();
  });
  afterEach(async () => {
    await server.stop();
  });
  const store: ServedStore = {
    get dir() {
      return dir;
    },
    get n() {
      return n;
    },
    get root() {
      return root;
    },
    get pod() {
      return pod;
    },
    get server() {
      return server;
    },
    get clock() {
      return clock;
    },
    live: () => path.join(pod, 'site.db'),
    pointer: () => path.join(root, manifestKey(SHA_A)),
    async publish(seed, signingKey) {
      const file = path.join(dir, `build-${n}-${seed}.db`);
      makeContentDatabase(file, 200, seed);
      const args = ['publish', file, '--store', root, '--git-sha', SHA_A, '--grace', '0s', '--keep', '10'];
      if (signingKey) args.push('--signing-key', signingKey);
      const result = await runCli(args, { clock });
      expect(result.code, result.stderr).toBe(0);
      // Keys and createdAt have whole seconds in the key; keep publishes apart.
      clock.advance(1.1);
      return manifestIn(await readFile(store.pointer(), 'utf8'));
    },
    sync: (...extra) =>
      runCli(['sync', '--database', store.live(), '--git-sha', SHA_A, '--store', server.url, '--attempts', '1', '--json', ...extra], {
        timeoutMs: 40_000,
        clock,
      }),
  };
  return store;
}
