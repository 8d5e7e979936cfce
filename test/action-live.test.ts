import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Heartbeat, HEARTBEAT_VERSION, manifestKey, parseCommitsResponse, parseManifestJson, signatureHeaders } from '@sqlitening/contract';
import type { Inputs } from '../src/action/constants.js';
import { liveFailure, liveSummaryMarkdown } from '../src/action/run-live.js';
import { forCheckout, readSettings } from '../src/action/settings.js';
import { readText } from '../src/store/object-store.js';
import { S3Store } from '../src/store/s3-store.js';
import { startWranglerDev } from '../worker/scripts/wrangler-dev.js';
import { type ActionRun, runActionEntry } from './helpers/action-run.js';
import { tempFolder } from './helpers/fixtures.js';
import { waitFor } from './helpers/poll.js';
import { startS3Server, type S3TestServer } from './helpers/s3-server.js';

/*
 * `git-sha: live` end to end: a real git repository with two commits on main
 * whose migrations and loaders differ and two on unmerged branches, pods of
 * two clusters reporting them (and a made-up sha) to the board in workerd
 * (wrangler dev), and dist/index.js under Node 24 refreshing the snapshots of
 * the commits it may build in s3rver, each from its own code.
 */

const execFileAsync = promisify(execFile);
const SECRETS = { 'eu-west': 'eu-west-secret-0123456789', 'us-east': 'us-east-secret-0123456789' };
const READ_TOKEN = 'read-token-0123456789abcdef';

let s3: S3TestServer;
let board: Awaited<ReturnType<typeof startWranglerDev>>;
let dir: string;
let cleanup: () => Promise<void>;
/** Where the commits are made: main (A, B), feature (C, from B) and hotfix (D, from B). */
let upstream: string;
/** The workflow's clone of upstream: every branch (origin/main, origin/feature, origin/hotfix), origin/HEAD → origin/main, HEAD at B. */
let repo: string;
let shaA: string;
let shaB: string;
/** On the unmerged branch `feature`: its loader leaves a marker file (and could read the job's secrets). */
let shaC: string;
/** On the unmerged branch `hotfix`, built only when listed in live-allow. */
let shaD: string;
/** A sha no repository holds, reported by a pod all the same. */
const MADE_UP = '0123456789abcdef0123456789abcdef01234567';

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('git', args, {
    cwd,
    env: { ...process.env, GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 'test@example.com', GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 'test@example.com' },
  });
  return stdout.trim();
}

async function commitFiles(files: Record<string, string>, message: string): Promise<string> {
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(upstream, file)), { recursive: true });
    await writeFile(path.join(upstream, file), text);
  }
  await git(upstream, 'add', '-A');
  await git(upstream, 'commit', '-q', '-m', message);
  return git(upstream, 'rev-parse', 'HEAD');
}

/** A loader of an unmerged commit: it records that it ran (with the environment it could read) in $MARKERS. */
const markingLoader = (name: string) =>
  [
    `env > "$MARKERS/${name}-$SQLITENING_GIT_SHA"`,
    `sqlite3 "$SQLITENING_DB" "INSERT OR REPLACE INTO notes (id, body, title) VALUES (1, '${name} $SQLITENING_GIT_SHA', 'One')"`,
    '',
  ].join('\n');

function heartbeat(cluster: keyof typeof SECRETS, pod: string, appGitSha: string): Heartbeat {
  const now = new Date().toISOString();
  return {
    version: HEARTBEAT_VERSION,
    cluster,
    pod,
    sentAt: now,
    appGitSha,
    database: null,
    lastRunAt: now,
    lastSuccessAt: null,
    lastError: null,
    tasks: [],
  };
}

async function sendHeartbeats(beats: Heartbeat[]): Promise<void> {
  const body = JSON.stringify(beats);
  const secret = SECRETS[beats[0]!.cluster as keyof typeof SECRETS];
  const response = await fetch(`${board.url}/v1/heartbeats`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(await signatureHeaders(secret, body)) },
    body,
  });
  expect(response.status, await response.text()).toBe(202);
}

/** The board's live commits, as the Action reads them. */
async function boardCommits(): Promise<string[]> {
  const response = await fetch(`${board.url}/v1/commits`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
  return parseCommitsResponse(await response.text()).commits.map((c) => c.gitSha);
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('action-live'));
  [s3, board] = await Promise.all([startS3Server(['live']), startWranglerDev({ CLUSTER_SECRETS: JSON.stringify(SECRETS), READ_TOKEN: READ_TOKEN })]);

  upstream = path.join(dir, 'upstream');
  await mkdir(upstream);
  await git(upstream, 'init', '-q', '-b', 'main');
  // Commit A: notes, one row.
  shaA = await commitFiles(
    {
      'db/migrations/001_notes.sql': 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);',
      'db/load.sh': `sqlite3 "$SQLITENING_DB" "INSERT OR REPLACE INTO notes (id, body) VALUES (1, 'built for $SQLITENING_GIT_SHA')"\n`,
    },
    'notes',
  );
  // Commit B: a title column and a tags table, loaded too.
  shaB = await commitFiles(
    {
      'db/migrations/002_tags.sql':
        'ALTER TABLE notes ADD COLUMN title TEXT;\nCREATE TABLE tags (note_id INTEGER NOT NULL REFERENCES notes(id), tag TEXT NOT NULL);',
      'db/load.sh': [
        `sqlite3 "$SQLITENING_DB" "INSERT OR REPLACE INTO notes (id, body, title) VALUES (1, 'built for $SQLITENING_GIT_SHA', 'One')"`,
        `sqlite3 "$SQLITENING_DB" "DELETE FROM tags; INSERT INTO tags VALUES (1, 'a'), (1, 'b')"`,
        '',
      ].join('\n'),
    },
    'tags and titles',
  );
  // Two branches from B that were never merged: feature (C) and hotfix (D).
  await git(upstream, 'checkout', '-q', '-b', 'feature');
  shaC = await commitFiles({ 'db/load.sh': markingLoader('feature') }, 'an unreviewed loader');
  await git(upstream, 'checkout', '-q', '-b', 'hotfix', shaB);
  shaD = await commitFiles({ 'db/load.sh': markingLoader('hotfix') }, 'a hotfix deployed before it is merged');
  await git(upstream, 'checkout', '-q', 'main');
  // The workflow's clone, with every branch as actions/checkout with fetch-depth: 0 fetches them.
  repo = path.join(dir, 'repo');
  await execFileAsync('git', ['clone', '-q', upstream, repo]);

  // Pods of eu-west run A; pods of us-east run B; then, each reported later (so the board lists it
  // before), a canary on C, a pod on D and a pod reporting a sha that exists nowhere.
  const reports: Array<[keyof typeof SECRETS, string, string]> = [
    ['us-east', 'api-1', shaB],
    ['us-east', 'canary-1', shaC],
    ['us-east', 'hotfix-1', shaD],
    ['eu-west', 'ghost-1', MADE_UP],
  ];
  await sendHeartbeats([heartbeat('eu-west', 'web-1', shaA), heartbeat('eu-west', 'web-2', shaA)]);
  await waitFor('the board to list eu-west', async () => (await boardCommits()).includes(shaA));
  for (const [cluster, pod, sha] of reports) {
    // The board orders commits by when it last heard each: this one is heard after the ones before it once
    // the board lists it first (a heartbeat heard in the same millisecond as the last is sent again).
    await waitFor(`the board to list ${pod}'s commit first`, async () => {
      await sendHeartbeats([heartbeat(cluster, pod, sha)]);
      return (await boardCommits())[0] === sha;
    });
  }
  await waitFor('the board to list every commit', async () => (await boardCommits()).length >= 5);
  expect(await boardCommits()).toEqual([MADE_UP, shaD, shaC, shaB, shaA]);
}, 120_000);

afterAll(async () => {
  // wrangler dev spawns workerd: stop() ends the whole process group.
  await board?.stop();
  await s3?.stop();
  await cleanup?.();
});

/**
 * Runs dist/index.js under Node 24 with the workflow's clone at `workspace`
 * (GITHUB_WORKSPACE). Loaders that mark find $MARKERS in the job's environment.
 */
async function runLive(inputs: Record<string, string>, workspace = repo, extraEnv: Record<string, string> = {}): Promise<ActionRun> {
  const runnerTemp = path.join(dir, 'runner-temp');
  await mkdir(runnerTemp, { recursive: true });
  const env: Record<string, string> = {
    MARKERS: path.join(dir, 'markers'),
    PATH: process.env.PATH ?? '',
    HOME: dir,
    ...s3.env,
    GITHUB_ACTIONS: 'true',
    GITHUB_SHA: shaB,
    GITHUB_REF: 'refs/heads/main',
    GITHUB_REPOSITORY: 'acme/site',
    GITHUB_RUN_ID: '4343',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_WORKSPACE: workspace,
    RUNNER_TEMP: runnerTemp,
    ...extraEnv,
  };
  await mkdir(env.MARKERS!, { recursive: true });
  return runActionEntry({ inputs, env, cwd: workspace, files: dir });
}

/** A fresh folder for the marks of unmerged commits' loaders, as the job's environment ($MARKERS). */
async function markers(name: string): Promise<{ MARKERS: string }> {
  const folder = path.join(dir, `markers-${name}`);
  await mkdir(folder, { recursive: true });
  return { MARKERS: folder };
}

/** The `::warning::` lines of a run. */
function warnings(run: ActionRun): string[] {
  return run.stdout.split('\n').filter((line) => line.startsWith('::warning::'));
}

/** What the step's log shows: the runner consumes `::add-mask::` commands (the token is masked from then on) and prints the rest. */
function shown(run: ActionRun): string {
  return run.stdout.replace(/^::add-mask::.*\n/gm, '');
}

function liveInputs(prefix: string): Record<string, string> {
  return {
    store: `s3://live/${prefix}`,
    endpoint: s3.endpoint,
    'path-style': 'true',
    migrations: 'db/migrations',
    loaders: 'sh db/load.sh',
    'git-sha': 'live',
    'board-url': `${board.url}/`,
    'board-token': READ_TOKEN,
  };
}

const store = (prefix: string) => new S3Store({ bucket: 'live', prefix, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true });

/** The commit's published manifest, and its database downloaded and opened read-only. */
async function published(prefix: string, gitSha: string) {
  const read = await store(prefix).get(manifestKey(gitSha));
  if (read.status !== 'ok') throw new Error(`no manifest for ${gitSha}`);
  const manifest = parseManifestJson(await readText(read.body));
  const object = await store(prefix).get(manifest.object.key);
  if (object.status !== 'ok') throw new Error(`no object ${manifest.object.key}`);
  const chunks: Buffer[] = [];
  for await (const chunk of object.body) chunks.push(chunk as Buffer);
  const file = path.join(dir, `${prefix}-${gitSha}.db`);
  await writeFile(file, gunzipSync(Buffer.concat(chunks)));
  const db = new Database(file, { readonly: true });
  try {
    const tables = (
      db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name").all() as Array<{ name: string }>
    ).map((t) => t.name);
    const noteColumns = (db.prepare('PRAGMA table_info(notes)').all() as Array<{ name: string }>).map((c) => c.name);
    const note = db.prepare('SELECT body FROM notes WHERE id = 1').get() as { body: string };
    return { manifest, tables, noteColumns, note: note.body };
  } finally {
    db.close();
  }
}

describe('git-sha: live, dist/index.js under Node 24 with the board in workerd', () => {
  it('refreshes every live commit of main from its own code: A gets A’s schema, B gets B’s', async () => {
    const run = await runLive(liveInputs('refresh'), repo, await markers('refresh'));
    expect(run.code, run.stdout).toBe(0);
    expect(shown(run)).not.toContain(READ_TOKEN);

    // Newest sighting first, as the board lists them; only those it builds.
    expect(JSON.parse(run.outputs['live-commits']!)).toEqual([shaB, shaA]);
    expect(run.stdout).toContain('Building live commits in the history of origin/main (the default branch, from origin/HEAD), at most 10 per run');
    const a = await published('refresh', shaA);
    const b = await published('refresh', shaB);
    expect(a.tables).toContain('notes');
    expect(a.tables).not.toContain('tags');
    expect(a.noteColumns).toEqual(['id', 'body']);
    expect(a.manifest.database.tables).toContainEqual({ name: 'notes', rows: 1 });
    expect(b.tables).toContain('tags');
    expect(b.noteColumns).toEqual(['id', 'body', 'title']);
    expect(b.manifest.database.tables).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'notes', rows: 1 }), expect.objectContaining({ name: 'tags', rows: 2 })]),
    );
    // Loaders ran with the commit they build for.
    expect(a.note).toBe(`built for ${shaA}`);
    expect(b.note).toBe(`built for ${shaB}`);
    expect(a.manifest.gitSha).toBe(shaA);
    expect(b.manifest.builder).toMatchObject({ repository: 'acme/site', runUrl: 'https://github.com/acme/site/actions/runs/4343' });

    expect(JSON.parse(run.outputs.results!)).toEqual([
      expect.objectContaining({ gitSha: MADE_UP, status: 'skipped', sha256: null, objectKey: null, reason: 'commit-not-in-clone' }),
      expect.objectContaining({ gitSha: shaD, status: 'skipped', reason: 'commit-not-allowed' }),
      expect.objectContaining({ gitSha: shaC, status: 'skipped', reason: 'commit-not-allowed' }),
      { gitSha: shaB, status: 'published', sha256: b.manifest.database.sha256, objectKey: b.manifest.object.key, reason: null, error: null },
      { gitSha: shaA, status: 'published', sha256: a.manifest.database.sha256, objectKey: a.manifest.object.key, reason: null, error: null },
    ]);
    // Only the live outputs: the single-commit ones would describe one of several commits.
    expect(Object.keys(run.outputs).sort()).toEqual(['live-commits', 'results']);
    expect(run.summary).toContain('## Sqlitening: refreshed 2 live commits, skipped 3');
    expect(run.summary).toContain(`| \`${shaC}\` | 1: us-east 1 | skipped |  | commit-not-allowed: commit ${shaC} is not in the history of origin/main`);
    expect(run.summary).toContain(`| \`${shaA}\` | 2: eu-west 2 | published | \`${a.manifest.database.sha256.slice(0, 16)}…\` |`);
    expect(run.summary).toContain(`| \`${shaB}\` | 1: us-east 1 | published |`);
    expect(run.stdout).toMatch(/^::group::Refresh [0-9a-f]{40}: 1 live pod \(us-east 1\)$/m);

    // The workflow's clone is as it was: no worktree left, nothing changed, HEAD still at B.
    expect((await git(repo, 'worktree', 'list', '--porcelain')).match(/^worktree /gm)).toEqual([`worktree `]);
    expect(await git(repo, 'status', '--porcelain')).toBe('');
    expect(await git(repo, 'rev-parse', 'HEAD')).toBe(shaB);
    expect(await readdir(path.join(dir, 'runner-temp'))).not.toContainEqual(expect.stringMatching(/^sqlitening-[0-9a-f]{12}-/));
  });

  it('refuses a commit of an unmerged branch with a warning, before any of its code runs, and passes', async () => {
    const marks = await markers('unmerged');
    const run = await runLive(liveInputs('unmerged'), repo, marks);
    expect(run.code, run.stdout).toBe(0);
    // Neither unmerged commit's loader ran, so neither could read the job's environment.
    expect(await readdir(marks.MARKERS)).toEqual([]);
    for (const sha of [shaC, shaD]) {
      expect(warnings(run)).toContain(
        `::warning::${sha}: skipped, commit-not-allowed: commit ${sha} is not in the history of origin/main and not listed in live-allow, so its code is not run: merge it into origin/main, or list its full sha in live-allow`,
      );
      expect(run.stdout).not.toContain(`::group::Refresh ${sha}`);
      expect(await store('unmerged').head(manifestKey(sha))).toBeUndefined();
    }
    expect(JSON.parse(run.outputs['live-commits']!)).toEqual([shaB, shaA]);
    expect(JSON.parse(run.outputs.results!)).toContainEqual({
      gitSha: shaC,
      status: 'skipped',
      sha256: null,
      objectKey: null,
      reason: 'commit-not-allowed',
      error: expect.stringContaining(`commit ${shaC} is not in the history of origin/main`),
    });
  });

  it('builds an unmerged commit listed by its full sha in live-allow, and only that one', async () => {
    const marks = await markers('allow');
    const run = await runLive({ ...liveInputs('allow'), 'live-allow': `# the hotfix deployed on 2026-11-26\n${shaD}` }, repo, marks);
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('Building live commits in the history of origin/main (the default branch, from origin/HEAD) or listed in live-allow (1)');
    expect(JSON.parse(run.outputs['live-commits']!)).toEqual([shaD, shaB, shaA]);
    const d = await published('allow', shaD);
    expect(d.note).toBe(`hotfix ${shaD}`);
    expect(await readdir(marks.MARKERS)).toEqual([`hotfix-${shaD}`]);
    expect(await store('allow').head(manifestKey(shaC))).toBeUndefined();
    expect(JSON.parse(run.outputs.results!).map((r: { gitSha: string; status: string }) => [r.gitSha, r.status])).toEqual([
      [MADE_UP, 'skipped'],
      [shaD, 'published'],
      [shaC, 'skipped'],
      [shaB, 'published'],
      [shaA, 'published'],
    ]);
  });

  it('warns about a sha no clone holds and goes on: a made-up commit does not fail the step', async () => {
    const run = await runLive(liveInputs('made-up'), repo, await markers('made-up'));
    expect(run.code, run.stdout).toBe(0);
    expect(warnings(run)).toContain(
      `::warning::${MADE_UP}: skipped, commit-not-in-clone: commit ${MADE_UP} is not in the clone at ${repo}: check out with actions/checkout and fetch-depth: 0 so every live commit is there; a commit force-pushed away, or one that never existed, cannot be checked out`,
    );
    expect(run.stdout).not.toContain('::error::');
    expect(JSON.parse(run.outputs.results!)[0]).toMatchObject({ gitSha: MADE_UP, status: 'skipped', reason: 'commit-not-in-clone' });
    expect((await published('made-up', shaB)).tables).toContain('tags');
  });

  it('builds at most live-max-commits per run, newest first, and names the ones it leaves with a warning', async () => {
    const run = await runLive({ ...liveInputs('cap'), 'live-max-commits': '1' }, repo, await markers('cap'));
    expect(run.code, run.stdout).toBe(0);
    // The made-up sha and the unmerged commits, listed before B, do not use up the one place.
    expect(JSON.parse(run.outputs['live-commits']!)).toEqual([shaB]);
    expect(warnings(run)).toContain(`::warning::live-max-commits is 1: 1 older live commit skipped this run, not checked or built: ${shaA}`);
    expect((await published('cap', shaB)).tables).toContain('tags');
    expect(await store('cap').head(manifestKey(shaA))).toBeUndefined();
    expect(JSON.parse(run.outputs.results!).at(-1)).toEqual({
      gitSha: shaA,
      status: 'skipped',
      sha256: null,
      objectKey: null,
      reason: 'too-many-live-commits',
      error: `commit ${shaA} comes after the 1 live commit built per run (live-max-commits), so it was not checked or built`,
    });
    expect(run.summary).toContain('## Sqlitening: refreshed 1 live commit, skipped 4');
  });

  it('with live-mode: matrix lists only the commits it may build, as JSON for strategy.matrix, and builds nothing', async () => {
    const run = await runLive({ 'git-sha': 'live', 'live-mode': 'matrix', 'board-url': board.url, 'board-token': READ_TOKEN, store: 's3://live/matrix' });
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs).toEqual({ 'live-commits': JSON.stringify([shaB, shaA]) });
    expect(warnings(run)).toContainEqual(expect.stringContaining(`::warning::${shaC}: skipped, commit-not-allowed:`));
    expect(await store('matrix').list('')).toEqual([]);
    // No store input is needed to list commits.
    const bare = await runLive({ 'git-sha': 'live', 'live-mode': 'matrix', 'board-url': board.url, 'board-token': READ_TOKEN });
    expect(bare.code, bare.stdout).toBe(0);
    expect(JSON.parse(bare.outputs['live-commits']!)).toEqual([shaB, shaA]);
  });

  it('warns about a commit missing from a shallow clone by its sha and goes on with the others', async () => {
    const shallow = path.join(dir, 'shallow');
    await execFileAsync('git', ['clone', '-q', '--depth', '1', `file://${repo}`, shallow]);
    const run = await runLive(liveInputs('shallow'), shallow);
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain(
      `::warning::${shaA}: skipped, commit-not-in-clone: commit ${shaA} is not in the clone at ${shallow} (a shallow clone): check out with actions/checkout and fetch-depth: 0`,
    );
    expect(JSON.parse(run.outputs.results!).slice(-2)).toEqual([
      expect.objectContaining({ gitSha: shaB, status: 'published', reason: null }),
      expect.objectContaining({ gitSha: shaA, status: 'skipped', sha256: null, reason: 'commit-not-in-clone' }),
    ]);
    expect((await published('shallow', shaB)).tables).toContain('tags');
    expect(await store('shallow').head(manifestKey(shaA))).toBeUndefined();
    expect(run.summary).toContain('## Sqlitening: refreshed 1 live commit, skipped 4');
    expect(run.summary).toMatch(new RegExp(`\\| \`${shaA}\` \\| 2: eu-west 2 \\| skipped \\|  \\| commit-not-in-clone: commit ${shaA} is not in the clone`));
  });

  it('goes on after a commit whose loader fails, and fails the step naming it', async () => {
    const run = await runLive({
      ...liveInputs('loader'),
      loaders: `sh db/load.sh\ntest "$SQLITENING_GIT_SHA" != ${shaB} || { echo "feed down" >&2; exit 4; }`,
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`::error::${shaB}: loader-failed: loader ".*" failed with exit code 4: feed down`));
    expect(run.stdout).toContain(`::error::1 of 2 live commits failed: ${shaB} (loader-failed); each one's error is above`);
    expect(JSON.parse(run.outputs.results!).slice(-2)).toEqual([
      expect.objectContaining({ gitSha: shaB, status: 'failed', reason: 'loader-failed' }),
      expect.objectContaining({ gitSha: shaA, status: 'published' }),
    ]);
    expect(await store('loader').head(manifestKey(shaB))).toBeUndefined();
    expect((await published('loader', shaA)).noteColumns).toEqual(['id', 'body']);
  });

  it('fails the step when the board refuses the read token, without printing it', async () => {
    const wrong = 'not-the-read-token-42';
    const run = await runLive({ ...liveInputs('token'), 'board-token': wrong });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`::error::${board.url}/v1/commits answered 401: the board refused the read token`);
    expect(shown(run)).not.toContain(wrong);
    const none = await runLive({ ...liveInputs('token'), 'board-token': '' });
    expect(none.stdout).toContain('the board needs a read token (its READ_TOKEN)');
    expect(await store('token').list('')).toEqual([]);
  });

  const usage: Array<[string, Record<string, string>, RegExp]> = [
    [
      'live without a board',
      { 'board-url': '' },
      /invalid input 'board-url': 'git-sha: live' asks the freshness board which commits are live; expected its URL .*, got ""/,
    ],
    [
      'a board-url that is not one',
      { 'board-url': 'board.example.com' },
      /invalid input 'board-url': expected an http\(s\):\/\/host\[:port\]\[\/path\] URL, got "board.example.com"/,
    ],
    ['a board-url without live', { 'git-sha': '' }, /invalid input 'board-url': it is used only with 'git-sha: live', but 'git-sha' is ""/],
    [
      'live-mode: matrix without live',
      { 'git-sha': '', 'board-url': '', 'board-token': '', 'live-mode': 'matrix' },
      /invalid input 'live-mode': it is used only with 'git-sha: live'/,
    ],
    ['an unknown live-mode', { 'live-mode': 'sometimes' }, /invalid input 'live-mode': expected one of refresh, matrix, got "sometimes"/],
    [
      'a board-token with a space',
      { 'board-token': 'two words' },
      /invalid input 'board-token': expected a token of printable characters without spaces \(value not shown\)/,
    ],
    [
      'migrations outside the repository',
      { migrations: '../elsewhere' },
      /invalid input 'migrations': with 'git-sha: live' each commit's own migrations are used, so they must be inside the repository/,
    ],
    [
      'a sha prefix in live-allow',
      { 'live-allow': 'abc1234def' },
      /invalid input 'live-allow': expected full commit shas \(40 or 64 lowercase hex digits\), one per line \(a prefix is not enough: whoever pushes a commit can choose its first digits\), got "abc1234def"/,
    ],
    ['a live-max-commits of 0', { 'live-max-commits': '0' }, /invalid input 'live-max-commits': expected a whole number from 1 to 1000, got "0"/],
    [
      'a live-branch that cannot name a branch',
      { 'live-branch': '--upload-pack=x' },
      /invalid input 'live-branch': expected a branch name \(main, release\/2026\) or a full ref .*, got "--upload-pack=x"/,
    ],
    [
      'a live-branch the clone does not have',
      { 'live-branch': 'gone' },
      /invalid input 'live-branch': branch gone is not in the clone at .* \(neither refs\/remotes\/origin\/gone nor refs\/heads\/gone\); check out with actions\/checkout and fetch-depth: 0/,
    ],
    [
      'live-allow without live',
      { 'git-sha': '', 'board-url': '', 'board-token': '', 'live-allow': 'x' },
      /invalid input 'live-allow': it is used only with 'git-sha: live', but 'git-sha' is ""/,
    ],
  ];
  for (const [what, inputs, message] of usage) {
    it(`fails the step on ${what}, naming the input, before building anything`, async () => {
      const prefix = `usage-${what.replace(/\W+/g, '-')}`;
      const run = await runLive({ ...liveInputs(prefix), ...inputs });
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(new RegExp(`::error::${message.source}`));
      expect(shown(run)).not.toContain('two words');
      expect(run.outputs).toEqual({});
      expect(await store(prefix).list('')).toEqual([]);
    });
  }

  describe('without origin/HEAD (actions/checkout sets none), with live-mode: matrix', () => {
    let clone: string;
    const matrix = { 'git-sha': 'live', 'live-mode': 'matrix', 'board-token': READ_TOKEN };
    const run = (inputs: Record<string, string>, env: Record<string, string> = {}) => runLive({ ...matrix, 'board-url': board.url, ...inputs }, clone, env);

    beforeAll(async () => {
      clone = path.join(dir, 'no-origin-head');
      await execFileAsync('git', ['clone', '-q', upstream, clone]);
      await git(clone, 'remote', 'set-head', 'origin', '--delete');
    });

    it('fails the step when nothing names the default branch, saying to set live-branch', async () => {
      const result = await run({});
      expect(result.code).toBe(1);
      expect(result.stdout).toContain(
        `::error::cannot tell which branch's commits git-sha: live may build in ${clone}: the clone has no origin/HEAD; the workflow event names no default branch. Set input 'live-branch' (e.g. main), or run "git remote set-head origin --auto" after actions/checkout with fetch-depth: 0`,
      );
      expect(result.outputs).toEqual({});
    });

    it('takes the default branch from the event, or from the ref of a scheduled run', async () => {
      const event = path.join(dir, 'event.json');
      await writeFile(event, JSON.stringify({ ref: 'refs/heads/feature', repository: { full_name: 'acme/site', default_branch: 'main' } }));
      const dispatched = await run({}, { GITHUB_EVENT_NAME: 'workflow_dispatch', GITHUB_EVENT_PATH: event, GITHUB_REF: 'refs/heads/feature' });
      expect(dispatched.code, dispatched.stdout).toBe(0);
      expect(dispatched.stdout).toContain("in the history of origin/main (the default branch, from the workflow_dispatch event's repository.default_branch)");
      expect(JSON.parse(dispatched.outputs['live-commits']!)).toEqual([shaB, shaA]);

      const scheduled = await run({}, { GITHUB_EVENT_NAME: 'schedule', GITHUB_REF: 'refs/heads/main' });
      expect(scheduled.code, scheduled.stdout).toBe(0);
      expect(scheduled.stdout).toContain("in the history of origin/main (the default branch, from GITHUB_REF (a scheduled run's is the default branch))");
      expect(JSON.parse(scheduled.outputs['live-commits']!)).toEqual([shaB, shaA]);
    });

    it('builds the history of the live-branch it is given', async () => {
      const result = await run({ 'live-branch': 'feature' });
      expect(result.code, result.stdout).toBe(0);
      expect(JSON.parse(result.outputs['live-commits']!)).toEqual([shaC, shaB, shaA]);
      expect(warnings(result)).toContainEqual(
        expect.stringContaining(`::warning::${shaD}: skipped, commit-not-allowed: commit ${shaD} is not in the history of origin/feature`),
      );
    });
  });

  it('fails the step when the workspace is not a git checkout, saying to use actions/checkout with fetch-depth: 0', async () => {
    const plain = path.join(dir, 'plain');
    await mkdir(path.join(plain, 'db', 'migrations'), { recursive: true });
    const run = await runLive(liveInputs('plain'), plain);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/::error::.*plain is not in a git checkout .*use actions\/checkout with fetch-depth: 0/);
    expect(await store('plain').list('')).toEqual([]);
  });
});

describe('a live refresh, decided from the inputs (pure)', () => {
  const inputs = (values: Partial<Record<Inputs, string>>) => (input: Inputs) => values[input] ?? '';
  const env = { GITHUB_WORKSPACE: '/w/repo', RUNNER_TEMP: '/runner/tmp' };

  it('reads git-sha: live as a refresh of every live commit, or only their list with live-mode: matrix', () => {
    const refresh = readSettings(inputs({ store: 's3://b/p', migrations: 'db/migrations', 'git-sha': 'live', 'board-url': 'https://board.example.com/' }), env);
    expect(refresh).toMatchObject({ mode: 'live-refresh', live: { board: { url: 'https://board.example.com', token: null } }, tempDirectory: '/runner/tmp' });
    const matrix = readSettings(inputs({ 'git-sha': 'live', 'live-mode': 'matrix', 'board-url': 'https://board.example.com', 'board-token': 't0ken' }), env);
    expect(matrix).toEqual({
      mode: 'live-matrix',
      live: {
        board: { url: 'https://board.example.com', token: 't0ken' },
        workingDirectory: '/w/repo',
        policy: { branch: null, allow: [], maxCommits: 10 },
        event: { name: '', ref: '', payloadPath: '' },
      },
    });
  });

  it('reads which commits may be built: live-branch, live-allow (full shas, one per line or separated by spaces or commas), live-max-commits', () => {
    const [a, b] = ['a'.repeat(40), 'b'.repeat(64)];
    const settings = readSettings(
      inputs({
        'git-sha': 'live',
        'live-mode': 'matrix',
        'board-url': 'https://b.example',
        'live-branch': 'release/2026',
        'live-allow': `# hotfixes\n${a}, ${b}\n${a}`,
        'live-max-commits': '3',
      }),
      { ...env, GITHUB_EVENT_NAME: 'schedule', GITHUB_REF: 'refs/heads/main', GITHUB_EVENT_PATH: '/runner/event.json' },
    );
    if (settings.mode !== 'live-matrix') throw new Error(settings.mode);
    expect(settings.live.policy).toEqual({ branch: 'release/2026', allow: [a, b], maxCommits: 3 });
    expect(settings.live.event).toEqual({ name: 'schedule', ref: 'refs/heads/main', payloadPath: '/runner/event.json' });
    const live = (values: Partial<Record<Inputs, string>>) => () =>
      readSettings(inputs({ 'git-sha': 'live', 'live-mode': 'matrix', 'board-url': 'https://b.example', ...values }), env);
    expect(live({ 'live-allow': 'A'.repeat(40) })).toThrow(/invalid input 'live-allow': .* \(use lower case\), got "A{40}"/);
    expect(live({ 'live-max-commits': '1001' })).toThrow(/invalid input 'live-max-commits': expected a whole number from 1 to 1000, got "1001"/);
    for (const bad of ['main..x', 'a b', 'x.lock', '-x', 'refs/heads/x/', '.hidden'])
      expect(live({ 'live-branch': bad }), bad).toThrow(/invalid input 'live-branch'/);
  });

  it('takes working directory, migrations and a database inside the repository from the checkout; the runner temp database stays', () => {
    const settings = readSettings(
      inputs({ store: 's3://b/p', 'working-directory': 'site', migrations: 'db/migrations', 'git-sha': 'live', 'board-url': 'https://b.example' }),
      env,
    );
    if (settings.mode !== 'live-refresh') throw new Error(settings.mode);
    const moved = forCheckout(settings.build, '/w/repo', '/runner/tmp/x/checkout');
    expect(moved).toMatchObject({
      workingDirectory: '/runner/tmp/x/checkout/site',
      migrationsDir: '/runner/tmp/x/checkout/site/db/migrations',
      database: '/runner/tmp/sqlitening.db',
    });
    expect(forCheckout({ ...settings.build, database: '/w/repo/site/build/site.db' }, '/w/repo', '/c').database).toBe('/c/site/build/site.db');
    expect(() => forCheckout({ ...settings.build, migrationsDir: '/opt/migrations' }, '/w/repo', '/c')).toThrow(/invalid input 'migrations'/);
  });

  it('says when no commit is live, and fails only when a commit failed', () => {
    const empty = { board: 'https://b.example', branch: 'origin/main', commits: [], durationMs: 5 };
    expect(liveSummaryMarkdown(empty)).toContain('## Sqlitening: no live commits');
    expect(liveFailure(empty)).toBeNull();
  });
});
