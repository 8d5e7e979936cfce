import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeError } from '../src/describe-error.js';
import { DatabaseError } from '../src/errors.js';
import { type InputFormat, readRows } from '../src/builder/load-input.js';
import { loadTable, type LoadResult } from '../src/builder/load-table.js';
import { CLI, runCli } from './helpers/cli.js';
import { tempFolder } from './helpers/fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
let file: string;
beforeEach(async () => {
  ({ dir, cleanup } = await tempFolder('load'));
  file = path.join(dir, 'site.db');
});
afterEach(() => cleanup());

/** A database file with `schema`, in rollback-journal mode as a build leaves it. */
function create(schema: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = DELETE');
  db.exec(schema);
  db.close();
}

/** Opens the file, loads, closes: each load is one process's work on the file. */
function load(table: string, key: string[], rows: Record<string, unknown>[], extra: { values?: 'typed' | 'text' } = {}): LoadResult {
  const db = new Database(file);
  try {
    return loadTable(db, { table, key, rows, ...extra });
  } finally {
    db.close();
  }
}

/** Loads the text of a file in `format`, as the CLI does. */
function loadText(table: string, key: string[], text: string, format: InputFormat): LoadResult {
  const db = new Database(file);
  try {
    return loadTable(db, { table, key, ...readRows(text, format) });
  } finally {
    db.close();
  }
}

function query<T>(sql: string): T[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

/** Numbers (0-based) of the 4 KiB pages that differ between two versions of a file, counting pages only one has. */
function changedPages(before: Buffer, after: Buffer, pageSize = 4096): number[] {
  const pages = Math.max(before.length, after.length) / pageSize;
  const changed: number[] = [];
  for (let page = 0; page < pages; page++) {
    const a = before.subarray(page * pageSize, (page + 1) * pageSize);
    const b = after.subarray(page * pageSize, (page + 1) * pageSize);
    if (!a.equals(b)) changed.push(page);
  }
  return changed;
}

/** The error `fn` throws. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

const POSTS = `CREATE TABLE posts (slug TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL, views INTEGER NOT NULL DEFAULT 0);
               CREATE TABLE updates (slug TEXT, what TEXT);
               CREATE TRIGGER posts_title AFTER UPDATE OF title ON posts BEGIN INSERT INTO updates VALUES (new.slug, 'title'); END;
               CREATE TRIGGER posts_body AFTER UPDATE OF body ON posts BEGIN INSERT INTO updates VALUES (new.slug, 'body'); END;`;

const post = (n: number, edit = '') => ({ slug: `post-${String(n).padStart(4, '0')}`, title: `Post ${n}${edit}`, body: `Body of post ${n}. `.repeat(40) });

describe('loadTable', () => {
  it('inserts new keys in key order, whatever the order of the file', () => {
    create(POSTS);
    const result = load('posts', ['slug'], [post(3), post(1), post(2)]);
    expect(result).toEqual({ table: 'posts', inserted: 3, updated: 0, deleted: 0, unchanged: 0 });
    expect(query<{ slug: string }>('SELECT slug FROM posts ORDER BY rowid').map((r) => r.slug)).toEqual(['post-0001', 'post-0002', 'post-0003']);
  });

  it('writes nothing at all when nothing changed: the file keeps every byte', () => {
    create(POSTS);
    const rows = Array.from({ length: 500 }, (_, i) => post(i));
    load('posts', ['slug'], rows);
    const before = readFileSync(file);
    expect(load('posts', ['slug'], [...rows].reverse())).toEqual({ table: 'posts', inserted: 0, updated: 0, deleted: 0, unchanged: 500 });
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('updates only the rows that changed, only in the columns that changed, and leaves the other pages as they were', () => {
    create(POSTS);
    const rows = Array.from({ length: 500 }, (_, i) => post(i));
    load('posts', ['slug'], rows);
    const before = readFileSync(file);
    rows[250] = post(250, ' (revised)');
    expect(load('posts', ['slug'], rows)).toEqual({ table: 'posts', inserted: 0, updated: 1, deleted: 0, unchanged: 499 });
    // UPDATE OF triggers fire for the columns an UPDATE sets: the title only, once.
    expect(query('SELECT slug, what FROM updates')).toEqual([{ slug: 'post-0250', what: 'title' }]);
    // The header (page 1: change counter), the row's leaf page, and the trigger's table.
    const pageCount = before.length / 4096;
    expect(pageCount).toBeGreaterThan(100);
    expect(changedPages(before, readFileSync(file)).length).toBeLessThanOrEqual(3);
  });

  it('deletes the rows whose key vanished, and leaves columns the file does not name alone', () => {
    create(POSTS);
    load('posts', ['slug'], [post(1), post(2), post(3)]);
    const db = new Database(file);
    db.exec("UPDATE posts SET views = 7 WHERE slug = 'post-0003'");
    db.close();
    expect(load('posts', ['slug'], [post(3, '!'), post(4)])).toEqual({ table: 'posts', inserted: 1, updated: 1, deleted: 2, unchanged: 0 });
    expect(query('SELECT slug, title, views FROM posts ORDER BY slug')).toEqual([
      { slug: 'post-0003', title: 'Post 3!', views: 7 },
      { slug: 'post-0004', title: 'Post 4', views: 0 },
    ]);
  });

  it('keys rows by several columns, keeping the rowid of rows it updates', () => {
    create(`CREATE TABLE notes (id INTEGER PRIMARY KEY, product TEXT NOT NULL, version TEXT NOT NULL, body TEXT, UNIQUE (product, version));`);
    const notes = [
      { product: 'Edge', version: '1.0', body: 'a' },
      { product: 'Agent', version: '1.0', body: 'b' },
      { product: 'Edge', version: '0.9', body: 'c' },
    ];
    expect(load('notes', ['product', 'version'], notes)).toMatchObject({ inserted: 3 });
    expect(query('SELECT id, product, version FROM notes ORDER BY id')).toEqual([
      { id: 1, product: 'Agent', version: '1.0' },
      { id: 2, product: 'Edge', version: '0.9' },
      { id: 3, product: 'Edge', version: '1.0' },
    ]);
    const next = [{ ...notes[0]!, body: 'a2' }, notes[2]!, { product: 'Agent', version: '1.1', body: 'd' }];
    expect(load('notes', ['product', 'version'], next)).toEqual({ table: 'notes', inserted: 1, updated: 1, deleted: 1, unchanged: 1 });
    expect(query('SELECT id, product, version, body FROM notes ORDER BY id')).toEqual([
      { id: 2, product: 'Edge', version: '0.9', body: 'c' },
      { id: 3, product: 'Edge', version: '1.0', body: 'a2' },
      { id: 4, product: 'Agent', version: '1.1', body: 'd' },
    ]);
  });

  it('loads WITHOUT ROWID tables, updating by their primary key', () => {
    create('CREATE TABLE tags (slug TEXT NOT NULL, tag TEXT NOT NULL, weight INTEGER, PRIMARY KEY (slug, tag)) WITHOUT ROWID;');
    load(
      'tags',
      ['slug', 'tag'],
      [
        { slug: 'a', tag: 'x', weight: 1 },
        { slug: 'a', tag: 'y', weight: 2 },
      ],
    );
    expect(load('tags', ['tag', 'slug'], [{ slug: 'a', tag: 'y', weight: 3 }])).toEqual({ table: 'tags', inserted: 0, updated: 1, deleted: 1, unchanged: 0 });
    expect(query('SELECT * FROM tags')).toEqual([{ slug: 'a', tag: 'y', weight: 3 }]);
  });

  it('quotes every name: keywords, quotes, a column that shadows rowid', () => {
    create(`CREATE TABLE "order" (rowid TEXT PRIMARY KEY, "select" TEXT, "we""ird" INTEGER)`);
    expect(
      load(
        'ORDER',
        ['ROWID'],
        [
          { rowid: 'b', select: 'x', 'we"ird': 1 },
          { rowid: 'a', select: 'y', 'we"ird': '2' },
        ],
      ),
    ).toMatchObject({ inserted: 2 });
    expect(load('order', ['rowid'], [{ rowid: 'b', select: 'x', 'we"ird': 3 }])).toEqual({ table: 'order', inserted: 0, updated: 1, deleted: 1, unchanged: 0 });
    expect(query('SELECT * FROM "order"')).toEqual([{ rowid: 'b', select: 'x', 'we"ird': 3 }]);
  });

  it('converts CSV text by the column affinity, and compares values as SQLite stores them', () => {
    create(`CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER, r REAL, x NUMERIC, label VARCHAR(20), raw, big BIGINT)`);
    const csv = ['id,n,r,x,label,raw,big', '1,42,4.5,1e3,42,42,9007199254740993', '2, 7 ,2,2.50,,"",-12', '3,abc,"",12abc,"""quoted""",x,'].join('\n');
    expect(loadText('items', ['id'], csv, 'csv')).toMatchObject({ inserted: 3 });
    const db = new Database(file, { readonly: true });
    const rows = db
      .prepare(
        'SELECT id, n, typeof(n) AS tn, r, typeof(r) AS tr, x, typeof(x) AS tx, label, typeof(label) AS tl, raw, typeof(raw) AS traw, big FROM items ORDER BY id',
      )
      .safeIntegers()
      .all();
    db.close();
    expect(rows).toEqual([
      { id: 1n, n: 42n, tn: 'integer', r: 4.5, tr: 'real', x: 1000n, tx: 'integer', label: '42', tl: 'text', raw: '42', traw: 'text', big: 9007199254740993n },
      { id: 2n, n: 7n, tn: 'integer', r: 2, tr: 'real', x: 2.5, tx: 'real', label: null, tl: 'null', raw: '', traw: 'text', big: -12n },
      { id: 3n, n: 'abc', tn: 'text', r: '', tr: 'text', x: '12abc', tx: 'text', label: '"quoted"', tl: 'text', raw: 'x', traw: 'text', big: null },
    ]);
    const before = readFileSync(file);
    expect(loadText('items', ['id'], csv, 'csv')).toMatchObject({ unchanged: 3, updated: 0 });
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('stores JSON booleans as 1/0 and objects and arrays as JSON text; a field a row leaves out is NULL', () => {
    create('CREATE TABLE docs (id INTEGER PRIMARY KEY, ok INTEGER, meta TEXT, tags TEXT, note TEXT)');
    const jsonl = ['{"id": 2, "ok": true, "meta": {"a": [1, 2]}, "tags": ["x", "y"], "note": "n"}', '', '{"id": 1, "ok": false, "meta": null}'].join('\n');
    expect(loadText('docs', ['id'], jsonl, 'jsonl')).toMatchObject({ inserted: 2 });
    expect(query('SELECT * FROM docs ORDER BY id')).toEqual([
      { id: 1, ok: 0, meta: null, tags: null, note: null },
      { id: 2, ok: 1, meta: '{"a":[1,2]}', tags: '["x","y"]', note: 'n' },
    ]);
    const array = JSON.stringify([
      { id: 1, ok: false },
      { id: 2, ok: 1, meta: { a: [1, 2] }, tags: ['x', 'y'], note: 'n' },
    ]);
    expect(loadText('docs', ['id'], array, 'json')).toEqual({ table: 'docs', inserted: 0, updated: 0, deleted: 0, unchanged: 2 });
  });

  it('runs inside the caller’s transaction as a savepoint', () => {
    create(POSTS);
    const db = new Database(file);
    try {
      db.exec('BEGIN');
      loadTable(db, { table: 'posts', key: ['slug'], rows: [post(1)] });
      expect(db.inTransaction).toBe(true);
      db.exec('ROLLBACK');
      expect(db.prepare('SELECT count(*) AS n FROM posts').get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });
});

describe('loadTable refuses rows that do not fit, and writes nothing', () => {
  beforeEach(() => {
    create(POSTS);
    load('posts', ['slug'], [post(1), post(2), post(3)]);
  });

  /** Expects `fn` to fail with `message` (a `load-mismatch` or `malformed-input`), leaving the file as it was. */
  function refused(fn: () => unknown, message: string | RegExp, code = 'load-mismatch'): void {
    const before = readFileSync(file);
    const error = thrown(fn);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(describeError(error)).toMatchObject({ code, kind: 'rejected', exitCode: 3 });
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
    expect(readFileSync(file).equals(before)).toBe(true);
  }

  it('an unknown table, naming the tables there are', () => {
    refused(() => load('post', ['slug'], [post(1)]), 'no table "post" in the database (its tables: posts, updates)');
  });

  it('a key column the table lacks', () => {
    refused(() => load('posts', ['id'], [post(1)]), 'key column "id" is not a column of posts (its columns: slug, title, body, views)');
  });

  it('a row without a key value, or with a null one', () => {
    refused(
      () => load('posts', ['slug'], [post(1), { title: 't', body: 'b' }]),
      'row 2: no value for key column slug (expected one in every row; got title, body)',
    );
    refused(() => loadText('posts', ['slug'], 'slug,title,body\na,t,b\n,t,b\n', 'csv'), 'line 3: key column slug is null; expected a value in every row');
  });

  it('a key given twice in the file, naming both lines', () => {
    refused(
      () => loadText('posts', ['slug'], [post(5), post(6), post(5)].map((r) => JSON.stringify(r)).join('\n'), 'jsonl'),
      'line 3: duplicate key (slug "post-0005"), first given by line 1; each key may appear once',
    );
  });

  it('a column the table lacks', () => {
    refused(
      () => loadText('posts', ['slug'], JSON.stringify([post(1), { ...post(2), author: 'ana' }], null, 2), 'json'),
      'item 2 (line 7): column "author" is not in table posts (its columns: slug, title, body, views)',
    );
  });

  it('a row a constraint refuses, after other rows were written', () => {
    // Deletes and updates run before the failing insert; all of it is rolled back.
    refused(
      () => load('posts', ['slug'], [post(1, ' (revised)'), post(2), { slug: 'post-9999', title: null, body: 'b' }]),
      'row 3: NOT NULL constraint failed: posts.title',
    );
  });

  it('malformed JSON lines, JSON and CSV, with the line', () => {
    refused(
      () => loadText('posts', ['slug'], `${JSON.stringify(post(1))}\n{"slug": "b",\n`, 'jsonl'),
      'line 2, column 14: invalid JSON (property name expected)',
      'malformed-input',
    );
    refused(
      () => loadText('posts', ['slug'], `${JSON.stringify(post(1))}\n[1]\n`, 'jsonl'),
      'line 2: expected a JSON object (one row), got an array',
      'malformed-input',
    );
    refused(
      () => loadText('posts', ['slug'], '[\n  {"slug": "a"}\n  {"slug": "b"}\n]', 'json'),
      'line 3, column 3: invalid JSON (comma expected)',
      'malformed-input',
    );
    refused(
      () => loadText('posts', ['slug'], 'slug,title,body\na,t,b\nb,t\n', 'csv'),
      'invalid CSV: Invalid Record Length: expect 3, got 2 on line 3',
      'malformed-input',
    );
  });
});

describe('loadTable on a table with duplicate keys', () => {
  it('refuses to guess which row a key means', () => {
    create("CREATE TABLE log (slug TEXT, what TEXT); INSERT INTO log VALUES ('x', 'a'), ('x', 'b');");
    const before = readFileSync(file);
    expect(() => load('log', ['slug'], [{ slug: 'x', what: 'c' }])).toThrow(
      'table log has more than one row with the key (slug "x") of row 1; the key must be unique in the table (its PRIMARY KEY or a UNIQUE index)',
    );
    expect(readFileSync(file).equals(before)).toBe(true);
  });
});

describe('sqlitening load', () => {
  it('runs as a build loader on $SQLITENING_DB, and a refresh writes only what changed', async () => {
    await mkdir(path.join(dir, 'migrations'));
    await writeFile(path.join(dir, 'migrations', '1_posts.sql'), POSTS);
    await writeFile(path.join(dir, 'posts.jsonl'), [post(2), post(1), post(3)].map((r) => JSON.stringify(r)).join('\n'));
    const loader = `"${process.execPath}" "${CLI}" load --table posts --key slug posts.jsonl`;
    const first = await runCli(['--json', 'build', '--migrations', 'migrations', '--loader', loader, '-o', 'site.db'], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    // The loader's own output goes to the build's stderr, keeping its stdout for JSON.
    expect(first.stderr).toMatch(/Loaded posts from posts\.jsonl: 3 inserted, 0 updated, 0 deleted, 0 unchanged in /);
    expect(query<{ slug: string }>('SELECT slug FROM posts ORDER BY rowid').map((r) => r.slug)).toEqual(['post-0001', 'post-0002', 'post-0003']);

    await writeFile(path.join(dir, 'posts.jsonl'), [post(1), post(2, '!'), post(4)].map((r) => JSON.stringify(r)).join('\n'));
    const second = await runCli(['build', '--from', 'site.db', '--loader', loader.replace(' load ', ' --json load '), '-o', 'next.db'], { cwd: dir });
    expect(second.code, second.stderr).toBe(0);
    const result = second.stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((e) => e.command === 'load');
    expect(result).toMatchObject({ event: 'result', table: 'posts', format: 'jsonl', inserted: 1, updated: 1, deleted: 1, unchanged: 1 });
  });

  it('exits 3 with the line when a row is wrong, and 2 for a bad flag', async () => {
    create(POSTS);
    await writeFile(path.join(dir, 'posts.csv'), 'slug,title,body,author\na,t,b,ana\n');
    const wrong = await runCli(['--json', 'load', '--database', file, '--table', 'posts', '--key', 'slug', path.join(dir, 'posts.csv')]);
    expect(wrong.code).toBe(3);
    expect(wrong.events.at(-1)).toMatchObject({
      event: 'error',
      code: 'load-mismatch',
      message: expect.stringContaining('line 2: column "author" is not in table posts'),
    });
    const noDatabase = await runCli(['load', '--table', 'posts', '--key', 'slug', path.join(dir, 'posts.csv')]);
    expect(noDatabase.code).toBe(2);
    expect(noDatabase.stderr).toContain('no database: give --database FILE, or set $SQLITENING_DB');
  });
});
