// A data loader: fills the database at $SQLITENING_DB. Real loaders pull from a
// CMS, a feed or an API; this one generates plausible content so the example runs
// offline. CONTENT_REVISION changes a few rows, as a scheduled refresh would.
//
// Each table is made equal to the generated rows with loadTable (the API of
// `sqlitening load`): rows whose key vanished are deleted, changed rows are
// updated, new keys inserted, and unchanged rows are not written at all, so a
// refresh rewrites only the pages its changes live on.
import Database from 'better-sqlite3';
import { loadTable } from 'sqlitening';

const file = process.env.SQLITENING_DB;
if (!file) {
  console.error('load.js: expected the database path in $SQLITENING_DB, got nothing');
  process.exit(2);
}
const revision = Number(process.env.CONTENT_REVISION ?? '1');
const products = ['Gateway', 'Console', 'Edge', 'Agent', 'SDK'];
const severities = ['low', 'moderate', 'high', 'critical'];
const day = (n) => new Date(Date.UTC(2024, 0, 1) + n * 86_400_000).toISOString().slice(0, 10);
const paragraph = (seed) =>
  `<p>${['Faster startup', 'Fixed a race in the cache', 'New metrics endpoint', 'Lower memory use', 'Better error messages'][seed % 5]}` +
  ` for deployments of every size; see the upgrade guide for details (#${seed}).</p>`;

const notes = Array.from({ length: 3000 }, (_, i) => {
  // Every revision rewrites about 1% of the notes, like editors fixing typos.
  const edited = i % 100 === revision % 100 ? ` (revised in r${revision})` : '';
  return {
    product: products[i % products.length],
    version: `${Math.floor(i / 50)}.${i % 50}.0`,
    released_on: day(i % 1000),
    body_html: paragraph(i).repeat(4) + edited,
  };
});
const advisories = Array.from({ length: 400 + revision }, (_, i) => ({
  id: `ADV-${2024 + Math.floor(i / 200)}-${String(i).padStart(4, '0')}`,
  product: products[i % 5],
  severity: severities[i % 4],
  published_on: day(i * 2),
  fixed_in: i < 390 ? `${Math.floor(i / 10)}.0.1` : null,
  summary: `Issue ${i} in ${products[i % 5]}: ${paragraph(i)}`,
}));
const posts = Array.from({ length: 600 }, (_, i) => ({
  slug: `post-${i}`,
  title: `Engineering notes #${i}`,
  author: ['ana', 'bo', 'chen', 'dara'][i % 4],
  published_on: day(i),
  body_html: paragraph(i * 7).repeat(12),
}));
const tags = posts.map((post, i) => ({ slug: post.slug, tag: ['release', 'security', 'engineering', 'company'][i % 4] }));

const db = new Database(file);
// One transaction for the whole refresh: each loadTable runs as a savepoint inside it.
db.transaction(() => {
  // release_notes keeps its own `id` (not in the rows): updated rows keep theirs, new ones get the next.
  for (const [table, key, rows] of [
    ['release_notes', ['product', 'version'], notes],
    ['advisories', ['id'], advisories],
    ['blog_posts', ['slug'], posts],
    ['post_tags', ['slug', 'tag'], tags],
  ]) {
    const { inserted, updated, deleted, unchanged } = loadTable(db, { table, key, rows });
    console.error(`${table}: ${inserted} inserted, ${updated} updated, ${deleted} deleted, ${unchanged} unchanged`);
  }
})();
db.close();
