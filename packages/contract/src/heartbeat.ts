import { z } from 'zod';
import { gitShaSchema } from './git-sha.js';
import { sha256Schema, utcTimeSchema as utcTime } from './manifest.js';
import { MAX_POD_NAME_LENGTH, nameSchema, podNameSchema } from './names.js';
import { parseJson, validate } from './validation.js';

export const HEARTBEAT_VERSION = 1;

/** Bounds that keep one heartbeat small; the board refuses anything larger. */
export const HEARTBEAT_LIMITS = {
  /** Largest request body the board accepts, in bytes. */
  maxBodyBytes: 256 * 1024,
  /** Most heartbeats in one batch. */
  maxBatch: 200,
  /** Most tasks one pod reports. */
  maxTasks: 32,
  /** Longest `lastError` text, in characters. */
  maxErrorLength: 1000,
  /** Longest pod name (a DNS name); the characters allowed are in `POD_NAME_PATTERN`. */
  maxPodLength: MAX_POD_NAME_LENGTH,
  /** Longest store location, in characters. */
  maxStoreLocationLength: 300,
  /** Most stores (mirrors) one agent reads. */
  maxStores: 16,
} as const;

export const taskStatusSchema = z.object({
  name: nameSchema,
  /** Seconds since the task last succeeded; null when it never has. */
  ageSeconds: z.number().nonnegative().nullable(),
  limitSeconds: z.number().positive(),
  ok: z.boolean(),
});

/** What one pod's agent reports after each run. */
export const heartbeatSchema = z.object({
  version: z.literal(HEARTBEAT_VERSION),
  cluster: nameSchema,
  /** The pod (or host) name; unique within its cluster. */
  pod: podNameSchema,
  sentAt: utcTime,
  /** The commit the app runs; null for an agent started with `--any-commit`. */
  appGitSha: gitShaSchema.nullable(),
  /** The live database; null before the first successful sync. */
  database: z
    .object({
      gitSha: gitShaSchema,
      sha256: sha256Schema,
      createdAt: utcTime,
    })
    .nullable(),
  lastRunAt: utcTime.nullable(),
  lastSuccessAt: utcTime.nullable(),
  lastError: z.string().max(HEARTBEAT_LIMITS.maxErrorLength).nullable(),
  /** How the installed database arrived: `delta` (changed pages only) or `full`, and the bytes it moved. Absent from older agents. */
  lastInstall: z
    .object({ method: z.enum(['delta', 'full']), bytes: z.number().int().nonnegative(), at: utcTime })
    .nullable()
    .optional(),
  tasks: z.array(taskStatusSchema).max(HEARTBEAT_LIMITS.maxTasks),
  /**
   * The store the last successful run read from: its place among the agent's stores (0 = the first
   * `--store`, the preferred one; more when it failed over to a mirror) and its location, with no
   * credentials. Absent from agents before mirrors; boards before them drop it (unknown fields are).
   */
  store: z
    .object({
      index: z
        .number()
        .int()
        .nonnegative()
        .max(HEARTBEAT_LIMITS.maxStores - 1),
      location: z.string().max(HEARTBEAT_LIMITS.maxStoreLocationLength),
    })
    .nullable()
    .optional(),
});

export type Heartbeat = z.output<typeof heartbeatSchema>;
export type TaskStatus = z.output<typeof taskStatusSchema>;

const batchSchema = z.array(heartbeatSchema).min(1).max(HEARTBEAT_LIMITS.maxBatch);

/** Parses a request body holding one heartbeat or an array of them. Throws `ContractError` naming the field. */
export function parseHeartbeats(body: string): Heartbeat[] {
  const value = parseJson(body, 'heartbeat');
  return Array.isArray(value) ? validate(batchSchema, value, 'heartbeat batch') : [validate(heartbeatSchema, value, 'heartbeat')];
}
