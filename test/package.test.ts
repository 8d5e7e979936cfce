import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempFolder } from './helpers/fixtures.js';

const run = promisify(execFile);
const root = path.resolve('.');

let dir: string;
let cleanup: () => Promise<void>;
let app: string;

/**
 * Installs the packages as a user would get them: `npm pack` of the contract
 * package and of sqlitening, then `npm install` of both tarballs into an empty
 * folder. Install scripts are skipped and better-sqlite3's compiled addon is
 * copied from this checkout (same version, same Node) only to save its
 * 90-second compile; everything else comes from the tarballs and the registry.
 */
beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('package'));
  const packed = path.join(dir, 'packed');
  await mkdir(packed);
  await run('npm', ['pack', '--pack-destination', packed, '--loglevel=error'], { cwd: path.join(root, 'packages', 'contract') });
  await run('npm', ['pack', '--pack-destination', packed, '--loglevel=error'], { cwd: root });
  app = path.join(dir, 'app');
  await mkdir(app);
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'an-app', private: true, type: 'module' }));
  await run(
    'npm',
    [
      'install',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
      path.join(packed, 'sqlitening-contract-0.1.0.tgz'),
      path.join(packed, 'sqlitening-0.1.0.tgz'),
    ],
    { cwd: app },
  );
  const installed = JSON.parse(await readFile(path.join(app, 'node_modules/better-sqlite3/package.json'), 'utf8')).version;
  const ours = JSON.parse(await readFile(path.join(root, 'node_modules/better-sqlite3/package.json'), 'utf8')).version;
  expect(installed).toBe(ours);
  await cp(path.join(root, 'node_modules/better-sqlite3/build'), path.join(app, 'node_modules/better-sqlite3/build'), { recursive: true });
}, 300_000);

afterAll(async () => {
  await cleanup?.();
});

describe('the packages as installed from npm pack', () => {
  it('runs the CLI', async () => {
    const { stdout } = await run('npx', ['--no-install', 'sqlitening', '--help'], { cwd: app });
    expect(stdout).toContain('Usage: sqlitening');
    expect(stdout).toContain('Exit codes:');
  });

  it('imports the reader without the AWS SDK, and reads a database', async () => {
    expect(existsSync(path.join(app, 'node_modules', '@aws-sdk'))).toBe(false);
    const file = path.join(dir, 'site.db');
    const db = new Database(file);
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hello')");
    db.close();
    const script = `import { SnapshotReader } from 'sqlitening/reader';
const reader = new SnapshotReader(${JSON.stringify(file)});
console.log(reader.read((db) => db.prepare('SELECT body FROM notes').get().body));
reader.close();`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app });
    expect(stdout.trim()).toBe('hello');
  });

  it('says what to install when an s3:// store needs the AWS SDK', async () => {
    const error = (await run('npx', ['--no-install', 'sqlitening', 'pull', path.join(dir, 'x.db'), '--store', 's3://some-bucket/site', '--latest'], {
      cwd: app,
    }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(error.code).toBe(2);
    expect(error.stderr).toContain('npm install @aws-sdk/client-s3');
  });
});
