import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Manifest } from '@sqlitening/contract';

export const SHA_A = 'a'.repeat(40);
export const SHA_B = 'b'.repeat(40);

export function sampleManifest(overrides: Partial<Manifest> = {}): Manifest {
  return {
    format: 'sqlitening.manifest',
    version: 1,
    gitSha: SHA_A,
    createdAt: '2026-11-26T06:00:00.000Z',
    database: {
      sha256: 'c'.repeat(64),
      size: 8192,
      pageSize: 4096,
      pageCount: 2,
      freePages: 0,
      userVersion: 3,
      sqliteVersion: '3.51.2',
      tables: [{ name: 'posts', rows: 10 }],
    },
    object: { key: `${SHA_A}/20261126T060000Z-cccccccccccccccc.db.gz`, encoding: 'gzip', size: 1000 },
    builder: { tool: 'sqlitening/0.1.0' },
    deltas: [],
    patches: [],
    history: [],
    ...overrides,
  };
}

/** A temp folder removed by the returned cleanup. */
export async function tempFolder(label: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `sqlitening-${label}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A small content database: posts with tags, in rollback-journal mode. */
export function makeContentDatabase(file: string, rows = 200, seed = 0): void {
  const db = new Database(file);
  db.pragma('journal_mode = DELETE');
  db.exec(`CREATE TABLE IF NOT EXISTS posts (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL);
           CREATE TABLE IF NOT EXISTS tags (post_id INTEGER NOT NULL REFERENCES posts(id), tag TEXT NOT NULL);`);
  const post = db.prepare('INSERT OR REPLACE INTO posts (id, title, body) VALUES (?, ?, ?)');
  const tag = db.prepare('INSERT INTO tags (post_id, tag) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= rows; i++) {
      post.run(i, `Release ${i}.${seed}`, `Notes for release ${i}, build ${seed}. `.repeat(20));
      tag.run(i, i % 2 ? 'security' : 'feature');
    }
  })();
  db.close();
}
