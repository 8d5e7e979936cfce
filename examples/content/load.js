// A data loader: fills the database at $SQLITENING_DB. Real loaders pull from a
// CMS, a feed or an API; this one generates plausible content so the example runs
// offline. CONTENT_REVISION changes a few rows, as a scheduled refresh would.
import Database from 'better-sqlite3';

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

const db = new Database(file);
const note = db.prepare(
  `INSERT INTO release_notes (product, version, released_on, body_html) VALUES (?, ?, ?, ?)
   ON CONFLICT (product, version) DO UPDATE SET body_html = excluded.body_html WHERE body_html <> excluded.body_html`,
);
const advisory = db.prepare(
  `INSERT INTO advisories (id, product, severity, published_on, fixed_in, summary) VALUES (?, ?, ?, ?, ?, ?)
   ON CONFLICT (id) DO UPDATE SET fixed_in = excluded.fixed_in, summary = excluded.summary
   WHERE fixed_in IS NOT excluded.fixed_in OR summary <> excluded.summary`,
);
const post = db.prepare(
  `INSERT INTO blog_posts (slug, title, author, published_on, body_html) VALUES (?, ?, ?, ?, ?)
   ON CONFLICT (slug) DO UPDATE SET title = excluded.title, body_html = excluded.body_html
   WHERE title <> excluded.title OR body_html <> excluded.body_html`,
);
const tag = db.prepare('INSERT OR IGNORE INTO post_tags (slug, tag) VALUES (?, ?)');

db.transaction(() => {
  for (let i = 0; i < 3000; i++) {
    const product = products[i % products.length];
    // Every revision rewrites about 1% of the notes, like editors fixing typos.
    const edited = i % 100 === revision % 100 ? ` (revised in r${revision})` : '';
    note.run(product, `${Math.floor(i / 50)}.${i % 50}.0`, day(i % 1000), paragraph(i).repeat(4) + edited);
  }
  for (let i = 0; i < 400 + revision; i++) {
    const fixed = i < 390 ? `${Math.floor(i / 10)}.0.1` : null;
    advisory.run(`ADV-${2024 + Math.floor(i / 200)}-${String(i).padStart(4, '0')}`, products[i % 5], severities[i % 4], day(i * 2), fixed, `Issue ${i} in ${products[i % 5]}: ${paragraph(i)}`);
  }
  for (let i = 0; i < 600; i++) {
    const slug = `post-${i}`;
    post.run(slug, `Engineering notes #${i}`, ['ana', 'bo', 'chen', 'dara'][i % 4], day(i), paragraph(i * 7).repeat(12));
    tag.run(slug, ['release', 'security', 'engineering', 'company'][i % 4]);
  }
})();
db.close();
