import { z } from 'zod';
import { gitShaSchema } from './git-sha.js';
import { parseJson, validate } from './validation.js';

/** Identifies the document type, so a stray JSON file is not mistaken for a manifest. */
export const MANIFEST_FORMAT = 'sqlitening.manifest';

/**
 * The manifest format version this code writes and reads. A reader refuses
 * other versions rather than guess; a change that old readers could misread
 * (a chunked or page-delta encoding, say) bumps it.
 */
export const MANIFEST_VERSION = 1;

/** Largest manifest (or signed envelope) a reader accepts, in bytes; real ones are a few KiB. */
export const MANIFEST_MAX_BYTES = 1024 * 1024;

/**
 * How the snapshot object is encoded. `identity` is the plain SQLite file.
 * Chunked and page-delta encodings will be added here, with a new version.
 */
export const ENCODINGS = ['identity', 'gzip', 'br', 'zstd'] as const;
export type Encoding = (typeof ENCODINGS)[number];

export const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'expected a SHA-256 (64 lowercase hex digits)');
const utcTimeSchema = z.iso.datetime({ message: 'expected a UTC time in ISO 8601 (2026-01-31T12:00:00Z)' });
const countSchema = z.number().int().nonnegative();

export const tableStatsSchema = z.object({
  name: z.string().min(1),
  rows: countSchema,
});

/** What the builder measured of the uncompressed SQLite file. */
export const databaseInfoSchema = z.object({
  /** SHA-256 of the uncompressed file: the snapshot's identity. */
  sha256: sha256Schema,
  /** Size of the uncompressed file in bytes; a reader stops at this many. */
  size: countSchema,
  pageSize: countSchema,
  pageCount: countSchema,
  freePages: countSchema,
  /** `PRAGMA user_version`, which many migration tools use as a schema version. */
  userVersion: z.number().int(),
  /** The SQLite library version that built the file. */
  sqliteVersion: z.string().min(1),
  tables: z.array(tableStatsSchema),
});

/** The stored object that holds the snapshot. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const PRINTABLE = /^[^\u0000-\u001f\u007f-\u009f]+$/;

export const objectInfoSchema = z.object({
  /** Key relative to the store's root (bucket and prefix, folder, or base URL); printable, as it appears in messages. */
  key: z.string().min(1).max(1024).regex(PRINTABLE, 'expected a key without control characters'),
  encoding: z.enum(ENCODINGS),
  /** Size of the stored (encoded) object in bytes. */
  size: countSchema,
});

/** Who built the snapshot, for people reading the board or the store. */
export const builderSchema = z.object({
  /** The tool and its version, e.g. `sqlitening/0.1.0`. */
  tool: z.string().min(1),
  repository: z.string().optional(),
  ref: z.string().optional(),
  /** Link to the CI run that built it. */
  runUrl: z.url().optional(),
});

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION, {
    message: `unsupported manifest version; this reader understands version ${MANIFEST_VERSION}`,
  }),
  /** The commit whose code built and migrated the database. */
  gitSha: gitShaSchema,
  createdAt: utcTimeSchema,
  database: databaseInfoSchema,
  object: objectInfoSchema,
  builder: builderSchema,
});

export type Manifest = z.output<typeof manifestSchema>;
export type DatabaseInfo = z.output<typeof databaseInfoSchema>;
export type TableStats = z.output<typeof tableStatsSchema>;

/** Validates a manifest object (already parsed JSON). Throws `ContractError`. */
export function parseManifest(value: unknown): Manifest {
  return validate(manifestSchema, value, 'manifest');
}

/** Parses and validates manifest JSON text. Throws `ContractError`. */
export function parseManifestJson(text: string): Manifest {
  return parseManifest(parseJson(text, 'manifest'));
}

/** Serializes a manifest after validating it, so a writer can never publish one its readers would refuse. */
export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(parseManifest(manifest), null, 2)}\n`;
}
