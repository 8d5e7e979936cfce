-- Content of a product site that changes between deploys: release notes,
-- security advisories and blog posts, each addressable by a stable slug.
CREATE TABLE release_notes (
  id INTEGER PRIMARY KEY,
  product TEXT NOT NULL,
  version TEXT NOT NULL,
  released_on TEXT NOT NULL,
  body_html TEXT NOT NULL,
  UNIQUE (product, version)
);

CREATE TABLE advisories (
  id TEXT PRIMARY KEY,          -- e.g. ADV-2026-0042
  product TEXT NOT NULL,
  severity TEXT NOT NULL CHECK (severity IN ('low', 'moderate', 'high', 'critical')),
  published_on TEXT NOT NULL,
  fixed_in TEXT,
  summary TEXT NOT NULL
);

CREATE TABLE blog_posts (
  slug TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  author TEXT NOT NULL,
  published_on TEXT NOT NULL,
  body_html TEXT NOT NULL
);

CREATE INDEX release_notes_by_date ON release_notes (released_on DESC);
CREATE INDEX advisories_by_product ON advisories (product, published_on DESC);
