import { describe, it } from 'vitest';
import { expectOneLineError, runCli } from './helpers/cli.js';
import { SHA_A } from './helpers/fixtures.js';

/* Settings the CLI refuses before it does anything: one line on stderr naming what is wrong, and exit 2. */

describe('agent and sync settings: a one-line error and exit 2', () => {
  const base = ['--database', '/tmp/sqlitening-never/site.db', '--store', 'https://snapshots.example.com/www'];
  const cases: Array<[string, string[], string | RegExp]> = [
    ['no commit', ['sync', ...base], "missing the app's commit: pass --git-sha (or SQLITENING_GIT_SHA), or --any-commit for development"],
    ['both a commit and --any-commit', ['sync', ...base, '--git-sha', SHA_A, '--any-commit'], 'give either --git-sha or --any-commit, not both'],
    ['a short commit', ['sync', ...base, '--git-sha', 'abc1234'], 'invalid git sha from --git-sha'],
    ['no database', ['sync', '--store', 'https://x.example.com', '--git-sha', SHA_A], "required option '--database <file>' not specified"],
    [
      'a bad listen address',
      ['agent', ...base, '--git-sha', SHA_A, '--listen', 'localhost'],
      'invalid --listen: expected HOST:PORT (0.0.0.0:9090, [::]:9090, :9090), got "localhost"',
    ],
    [
      'a bad task limit',
      ['agent', ...base, '--git-sha', SHA_A, '--task', 'translations'],
      'invalid --task: expected NAME=DURATION (translations=2h), got "translations"',
    ],
    [
      'a bad CIDR',
      ['agent', ...base, '--git-sha', SHA_A, '--allow-cidr', '10.0.0.0/33'],
      'invalid CIDR range: expected an address and prefix such as 10.0.0.0/8 or fd00::/8, got "10.0.0.0/33"',
    ],
    [
      'a board without a cluster',
      ['agent', ...base, '--git-sha', SHA_A, '--board-url', 'https://board.example.com'],
      '--board-url needs --cluster (or SQLITENING_CLUSTER)',
    ],
    ['a bad interval', ['agent', ...base, '--git-sha', SHA_A, '--interval', '5'], /option '--interval <duration>' argument '5' is invalid/],
    ['a bad task name for touch', ['touch', '../x', '--database', '/tmp/sqlitening-never/site.db'], 'invalid task name'],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const result = await runCli(args);
      expectOneLineError(result, 2, message);
    });
  }
});

describe('wait and pull --wait: a one-line usage error and exit 2', () => {
  const base = ['--store', 'https://snapshots.example.com/www', '--git-sha', SHA_A];
  const cases: Array<[string, string[], string]> = [
    [
      'a timeout without a unit',
      ['wait', ...base, '--timeout', '10'],
      `option '--timeout <duration>' argument '10' is invalid. invalid value: expected a number with a unit (500ms, 30s, 10m, 1h, 2d), got "10"`,
    ],
    ['a poll interval of nothing', ['wait', ...base, '--poll', '0s'], 'invalid value: expected a duration of at least 100ms, got "0s"'],
    [
      'a malformed --wait on pull',
      ['pull', '/tmp/sqlitening-never/site.db', ...base, '--wait', 'soon'],
      `option '--wait <duration>' argument 'soon' is invalid`,
    ],
    ['--poll on pull without --wait', ['pull', '/tmp/sqlitening-never/site.db', ...base, '--poll', '1s'], '--poll is the interval of --wait: give --wait too'],
    ['a short commit', ['wait', '--store', 'https://snapshots.example.com/www', '--git-sha', 'abc1234'], 'invalid git sha from --git-sha'],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      expectOneLineError(await runCli(args), 2, message);
    });
  }
});
