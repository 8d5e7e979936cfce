import { existsSync } from 'node:fs';

/**
 * libfaketime (Debian package `libfaketime`): preloaded into a child process, it moves that process's
 * wall clock (Date.now, new Date) by a fixed offset and leaves its monotonic clock (timers) alone.
 */
export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

let checked = false;
function libfaketime(): string {
  if (!checked) {
    if (!existsSync(LIBFAKETIME)) {
      throw new Error(
        `the tests move child processes' clocks with libfaketime, and ${LIBFAKETIME} is missing: install the Debian package libfaketime (sudo apt-get install -y libfaketime, or bash .ci/run)`,
      );
    }
    checked = true;
  }
  return LIBFAKETIME;
}

/**
 * A clock a test sets instead of sleeping. Every child process given it (runCli, runActionEntry,
 * startAgent: `{ clock }`) starts with its wall clock `offsetMs` ahead of the real one; `advance` moves
 * the children started after it further ahead. Offsets only grow, so no child sees an earlier time than
 * one started before it. Code in the test process itself keeps the real clock: pass `clock.now()` to an
 * in-process call's `now` option where it must agree with the children.
 */
export interface TestClock {
  /** How far ahead of the real clock the next child's clock starts, in milliseconds. */
  readonly offsetMs: number;
  /** Moves the clock of children started from now on `seconds` further ahead. */
  advance(seconds: number): void;
  /** The time a child started now would see. */
  now(): Date;
  /** The environment that gives a child process this clock. */
  env(): Record<string, string>;
}

export function testClock(): TestClock {
  let offsetMs = 0;
  return {
    get offsetMs() {
      return offsetMs;
    },
    advance(seconds: number) {
      if (!(seconds >= 0)) throw new Error(`a test clock only moves forward (asked to move ${seconds} s)`);
      offsetMs += Math.round(seconds * 1000);
    },
    now: () => new Date(Date.now() + offsetMs),
    env: () => ({
      LD_PRELOAD: libfaketime(),
      FAKETIME: `+${(offsetMs / 1000).toFixed(3)}`,
      // Timers and durations keep real time; file times are the kernel's, as other processes see them.
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
      NO_FAKE_STAT: '1',
    }),
  };
}
