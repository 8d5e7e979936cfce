/** The library: the reader helper for apps, and the parts the CLI and action are made of. */
export { SnapshotReader, type SnapshotReaderOptions } from './reader/snapshot-reader.js';
export { Agent, type AgentOptions } from './agent/agent.js';
export { buildDatabase, type BuildOptions } from './builder/build.js';
export { loadTable, type LoadTableOptions, type LoadResult, type LoadValue } from './builder/load-table.js';
export { readRows, formatOfFile, INPUT_FORMATS, type InputFormat, type InputRows } from './builder/load-input.js';
export { publishSnapshot, type PublishOptions, type PublishResult } from './publish/publish.js';
// The read-once hash and compression of a database, and the stored encodings' decoders: publishing's building blocks.
export { encodeSnapshot, type EncodedSnapshot } from './publish/encode.js';
export { compressor, decompressor, encodingSupported } from './wire/codec.js';
export { downloadSnapshot } from './transfer/download.js';
export type { PageHashFile } from './transfer/page-hash-file.js';
export { readManifest } from './wire/manifest-store.js';
export { findManifest, waitForManifest, type FoundManifest, type WaitForManifestOptions, type WaitPoll } from './install/find-manifest.js';
export { openStore, type StoreSettings } from './store/open-store.js';
export { betterSqlite3Driver } from './sqlite/better-sqlite3-driver.js';
export { nodeSqliteDriver } from './sqlite/node-sqlite-driver.js';
export type { SqliteDriver, SqliteDatabase } from './sqlite/driver.js';
export type { ObjectStore, ObjectInfo, GetResult } from './store/object-store.js';
export * from './errors.js';
export * from './live/commit-errors.js';
export * as contract from '@sqlitening/contract';
export { describeError, errorMessage, type ErrorInfo } from './describe-error.js';
export { EXIT_CODES } from './reasons.js';
// Hooks a host may install in its own process: transfers then free read buffers as they go, a run that moved a
// snapshot lets the heap shrink when it ends (see reclaim-buffers.ts), and hashing threads start under settings of
// the host's choosing (see thread-start.ts).
export { setReadBufferReclaimer, setRestReclaimer } from './reclaim-buffers.js';
export { setThreadStartHook, type ThreadStartHook } from './thread-start.js';
