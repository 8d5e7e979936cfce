import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { type TestClock, testClock } from './helpers/clock.js';
import { SHA_A } from './helpers/fixtures.js';
import { NODE24 } from './helpers/node24.js';

/* The clock tests set instead of sleeping (test/helpers/clock.ts): children start ahead; their timers keep real time. */

/** What a child on `clock` sees: its wall clock at start, and how long a 100 ms timer took by that clock. */
async function childClock(node: string, clock: TestClock): Promise<{ now: number; slept: number }> {
  const probe = 'const t0 = Date.now(); setTimeout(() => console.log(JSON.stringify({ now: t0, slept: Date.now() - t0 })), 100);';
  const { stdout } = await promisify(execFile)(node, ['-e', probe], { env: { PATH: process.env.PATH ?? '', ...clock.env() } });
  return JSON.parse(stdout) as { now: number; slept: number };
}

describe('the test clock', () => {
  it('starts each child as far ahead as the test moved it, under Node 20 and Node 24, with real timers', async () => {
    const clock = testClock();
    for (const node of [process.execPath, NODE24]) {
      const before = Date.now();
      const at = await childClock(node, clock);
      expect(at.now).toBeGreaterThanOrEqual(before + clock.offsetMs);
      expect(at.now).toBeLessThanOrEqual(Date.now() + clock.offsetMs);
      expect(at.slept).toBeGreaterThanOrEqual(99);
      expect(at.slept).toBeLessThan(5_000);
      clock.advance(3.5);
    }
    expect(clock.offsetMs).toBe(7000);
    expect(clock.now().getTime() - Date.now()).toBeGreaterThanOrEqual(6990);
  });

  it('runCli gives it to the CLI: its JSON events carry the moved time', async () => {
    const clock = testClock();
    clock.advance(3600);
    const before = Date.now();
    const result = await runCli(
      [
        'sync',
        '--database',
        path.join('/tmp', 'sqlitening-never', 'site.db'),
        '--git-sha',
        SHA_A,
        '--store',
        'http://127.0.0.1:9',
        '--attempts',
        '1',
        '--json',
      ],
      { clock },
    );
    const times = result.events.map((e) => Date.parse(String(e.time)));
    expect(times.length, result.stderr).toBeGreaterThan(0);
    for (const time of times) expect(time).toBeGreaterThanOrEqual(before + 3_600_000 - 1_000);
  });

  it('only moves forward', () => {
    expect(() => testClock().advance(-1)).toThrow(/only moves forward/);
  });
});
