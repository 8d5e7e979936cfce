import { z } from 'zod';
import { gitShaSchema } from './git-sha.js';
import { nameSchema } from './names.js';
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
/** A UTC time in ISO 8601, as `Date.prototype.toISOString` writes it; every time in the contract's documents. */
export const utcTimeSchema = z.iso.datetime({ message: 'expected a UTC time in ISO 8601 (2026-01-31T12:00:00Z)' });
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

/** Key relative to the store's root (bucket and prefix, folder, or base URL); printable, as it appears in messages. */
const objectKeySchema = z.string().min(1).max(1024).regex(PRINTABLE, 'expected a key without control characters');

export const objectInfoSchema = z.object({
  key: objectKeySchema,
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

/** The chunk hash list of a snapshot: one SHA-256 per page-sized chunk of the file, and the root over them. */
export const chunksInfoSchema = z.object({
  /** Bytes per chunk: the database's page size, the unit SQLite changes (a delta's unit too). */
  size: z.number().int().min(512).max(65_536),
  count: countSchema,
  /** SHA-256 of the list (the 32-byte hashes, concatenated in chunk order): proves every byte of the file. */
  root: sha256Schema,
  /** Where the list is stored (binary, `count` × 32 bytes); its SHA-256 is `root`. */
  key: objectKeySchema,
});

/**
 * One delta object: the pages of this snapshot that differ from an earlier one, in one compressed stream.
 * Its format (the stream's layout) is named in the stream's header too; see `src/snapshot/delta-format.ts`.
 */
export const deltaInfoSchema = z.object({
  /** The earlier snapshot a pod must have (by its SHA-256) to apply the delta. */
  base: z.object({ sha256: sha256Schema }),
  key: objectKeySchema,
  encoding: z.enum(ENCODINGS),
  /** Stored (compressed) size in bytes; a reader stops at this many. */
  size: countSchema,
  /** Size of the decoded delta stream in bytes; a reader stops at this many. */
  rawSize: countSchema,
  /** Pages of this snapshot carried by the delta. */
  pages: countSchema,
  /** The delta format; absent in `deltas`, whose entries are all format 1 (each changed page whole). */
  format: z.number().int().min(1).optional(),
});

/**
 * A delta of format 2 or later: each changed page as a patch against pages the pod already holds (deflated
 * with them as the dictionary). Listed apart from `deltas`, so readers that know only format 1 never fetch
 * one; a reader uses the entries whose format it knows and ignores the rest, so a later format needs no
 * new manifest version either.
 */
export const patchInfoSchema = deltaInfoSchema.extend({
  format: z.number().int().min(2),
});

/** An earlier snapshot of the same commit that later publishes can make deltas from, without downloading it. */
export const historyEntrySchema = z.object({
  sha256: sha256Schema,
  size: countSchema,
  createdAt: utcTimeSchema,
  chunks: chunksInfoSchema,
});

export const manifestSchema = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    version: z.literal(MANIFEST_VERSION, {
      message: `unsupported manifest version; this reader understands version ${MANIFEST_VERSION}`,
    }),
    /** The commit whose code built and migrated the database. */
    gitSha: gitShaSchema,
    createdAt: utcTimeSchema,
    /**
     * Which database this is (`--name` of publish), for stores that hold several: signed with the rest, so a
     * manifest copied from one database's folder to another's is refused by pods that expect a name.
     */
    name: nameSchema.optional(),
    /**
     * After this time pods refuse the manifest (`manifest-expired`). Every publish, unchanged ones included,
     * signs a new one, so a store can serve an old signed manifest (a replay or a freeze) for at most this
     * long, also to a pod that starts with nothing. Absent: it never expires.
     */
    expiresAt: utcTimeSchema.optional(),
    database: databaseInfoSchema,
    object: objectInfoSchema,
    builder: builderSchema,
    /** Chunk hashes of the database (absent in manifests of older publishers). */
    chunks: chunksInfoSchema.optional(),
    /** Deltas (format 1: changed pages whole) from earlier snapshots of this commit, newest base first. */
    deltas: z.array(deltaInfoSchema).max(32).default([]),
    /**
     * Deltas of format 2 and later (changed pages as patches) from earlier snapshots whose file the publisher
     * held, newest base first. Readers that know only format 1 drop the field (unknown fields are ignored).
     */
    patches: z.array(patchInfoSchema).max(32).default([]),
    /**
     * Earlier snapshots of this commit, newest first, with their chunk lists: the bases of the next publish's deltas.
     * The last is the commit's first snapshot while the commit has others (images bake it), kept as a base for good.
     */
    history: z.array(historyEntrySchema).max(32).default([]),
  })
  .superRefine((manifest, context) => {
    if (manifest.expiresAt !== undefined && Date.parse(manifest.expiresAt) <= Date.parse(manifest.createdAt))
      context.addIssue({ code: 'custom', path: ['expiresAt'], message: 'expected a time after createdAt', input: manifest.expiresAt });
    // The root proves the bytes only together with the size: the chunk count must cover the file exactly.
    const chunks = manifest.chunks;
    if (!chunks) return;
    if ((chunks.size & (chunks.size - 1)) !== 0)
      context.addIssue({ code: 'custom', path: ['chunks', 'size'], message: 'expected a power of two', input: chunks.size });
    const expected = Math.ceil(manifest.database.size / chunks.size);
    if (chunks.count !== expected) {
      context.addIssue({
        code: 'custom',
        path: ['chunks', 'count'],
        message: `expected ${expected} chunks for ${manifest.database.size} bytes`,
        input: chunks.count,
      });
    }
  });

export type Manifest = z.output<typeof manifestSchema>;
export type ChunksInfo = z.output<typeof chunksInfoSchema>;
export type DeltaInfo = z.output<typeof deltaInfoSchema>;
export type PatchInfo = z.output<typeof patchInfoSchema>;
export type HistoryEntry = z.output<typeof historyEntrySchema>;
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
