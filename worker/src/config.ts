import { durationSchema, nameSchema, validate, z } from '@sqlitening/contract';
import { MIN_ROOT_LENGTH } from './cluster-key.js';

/** When a cluster counts as stale. Every field has a default; a cluster may override any of them. */
const ruleSchema = z.object({
  /** A pod is stale when its agent reports a task past its limit, or its last successful sync is older than this. */
  maxSyncAge: durationSchema.prefault('15m'),
  /** A pod is also stale when its snapshot was built longer ago than this (off by default: unchanged data keeps its snapshot). */
  maxDatabaseAge: durationSchema.nullable().default(null),
  /** The cluster is stale when at least this many live pods are stale… */
  staleCount: z.number().int().positive().nullable().default(null),
  /** …or when this share of its live pods is (used when staleCount is null). */
  staleShare: z.number().gt(0).max(1).default(0.5),
  /** The cluster is stale when no pod has sent a heartbeat for this long. */
  silentAfter: durationSchema.prefault('10m'),
  /** A pod still on an older snapshot this long after a newer one appeared in its cluster is lagging; any lagging pod makes the cluster stale. */
  skewAfter: durationSchema.prefault('15m'),
});

/**
 * What one cluster may send. Its secret can only write to its own Durable
 * Object, and these bound how much work that object (and its summary on the
 * board) can be made to do; over either, ingest answers 429 with the reason.
 */
const limitsSchema = z.object({
  /** Most live pods a cluster may have; heartbeats from more new pods are refused (known pods keep reporting). */
  podsPerCluster: z.number().int().positive().default(1000),
  /** Most heartbeats a cluster may send per minute (a token bucket: short bursts up to this many, refilled over a minute). */
  heartbeatsPerMinute: z.number().int().positive().default(6000),
});

const webhookSchema = z.object({
  url: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }),
  /** `json`: a signed generic JSON body; `slack`: a Slack-compatible incoming-webhook body. */
  kind: z.enum(['json', 'slack']).default('json'),
});

const configSchema = z.object({
  /** Clusters that must report; one that never does is stale (silent). */
  expectedClusters: z.array(nameSchema).default([]),
  /** Pods that stop reporting are forgotten after this (a scaled-down pod must not alert forever). */
  podTtl: durationSchema.prefault('1h'),
  rules: ruleSchema.prefault({}),
  /** Per-cluster overrides of `rules`. */
  clusterRules: z.record(nameSchema, ruleSchema.partial()).default({}),
  limits: limitsSchema.prefault({}),
  /** Per-cluster overrides of `limits`. */
  clusterLimits: z.record(nameSchema, limitsSchema.partial()).default({}),
  /** While a cluster stays stale, send a reminder this often. */
  reminderEvery: durationSchema.prefault('1h'),
  /** Delay before the first retry of a failed webhook delivery; doubled for each later one. */
  retryBase: durationSchema.prefault('30s'),
  /** Delivery attempts before giving up on a webhook. */
  maxAttempts: z.number().int().positive().default(8),
  /** How often the alarm evaluates the rules (each cluster's, and the board's index). */
  evaluateEvery: durationSchema.prefault('1m'),
  /**
   * Between rounds, a cluster sends its summary to the board's index after
   * heartbeats arrive at most this often, so a busy cluster cannot keep the
   * shared index busy.
   */
  summaryEvery: durationSchema.prefault('5s'),
});

export type BoardConfig = z.output<typeof configSchema>;
export type Rule = z.output<typeof ruleSchema>;
export type Limits = z.output<typeof limitsSchema>;
export type Webhook = z.output<typeof webhookSchema>;

/** The worker's variables and secrets this module reads (a subset of `Env`, so tests can pass their own). */
export interface SettingsEnv {
  BOARD_CONFIG?: string;
  CLUSTER_SECRETS?: string;
  CLUSTER_ROOT_KEY?: string;
  CLUSTER_ROOT_KEY_PREVIOUS?: string;
  ADMIN_TOKEN?: string;
  WEBHOOKS?: string;
  WEBHOOK_SECRET?: string;
  DEAD_MAN_URL?: string;
  READ_TOKEN?: string;
}

/**
 * Parses a JSON setting. The message never quotes the text: for secrets it
 * is the secret (V8's own messages would quote a piece of it).
 */
function json(text: string | undefined, what: string): unknown {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new SettingsError(`${what} is not valid JSON`);
  }
}

/** A variable or secret that cannot be used. The message names it and the problem, never its value. */
export class SettingsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SettingsError';
  }
}

/** Validates a secret setting; problems name the field but not the value. */
function validateSecret<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  try {
    return validate(schema, value, what, { showInput: false });
  } catch (error) {
    throw new SettingsError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * Parsed settings are kept per text, so each request and round does not parse
 * and validate the same JSON again. Keyed by the exact text: a new deploy (or
 * a test's own env) with other values is parsed anew.
 */
function memo<T>(parse: (text: string | undefined) => T): (text: string | undefined) => T {
  let last: { text: string | undefined; value: T } | undefined;
  return (text) => {
    if (last && last.text === text) return last.value;
    const value = parse(text);
    last = { text, value };
    return value;
  };
}

const parseConfig = memo((text) => validate(configSchema, json(text, 'BOARD_CONFIG') ?? {}, 'BOARD_CONFIG'));

/** The board's settings: `BOARD_CONFIG` (a JSON var) with defaults for everything. */
export function readConfig(env: Pick<SettingsEnv, 'BOARD_CONFIG'>): BoardConfig {
  return parseConfig(env.BOARD_CONFIG);
}

/** A cluster's rules: the defaults with its overrides. Own keys only, so a cluster named `constructor` gets no inherited property. */
export function ruleFor(config: BoardConfig, cluster: string): Rule {
  return { ...config.rules, ...(Object.hasOwn(config.clusterRules, cluster) ? config.clusterRules[cluster] : {}) } as Rule;
}

/** A cluster's limits: the defaults with its overrides. */
export function limitsFor(config: BoardConfig, cluster: string): Limits {
  return { ...config.limits, ...(Object.hasOwn(config.clusterLimits, cluster) ? config.clusterLimits[cluster] : {}) } as Limits;
}

const secretSchema = z.string().min(16, 'expected a secret of at least 16 characters');
/** A secret, or up to three during a rotation (agents may sign with any of them). */
const clusterSecretsSchema = z.record(
  nameSchema,
  z.preprocess((one) => (typeof one === 'string' ? [one] : one), z.array(secretSchema, 'expected a secret or a list of secrets').min(1).max(3)),
);

const parseClusterSecrets = memo(
  (text) => new Map(Object.entries(validateSecret(clusterSecretsSchema, json(text, 'CLUSTER_SECRETS') ?? {}, 'CLUSTER_SECRETS'))),
);

/**
 * Per-cluster heartbeat secrets (`CLUSTER_SECRETS`): every one listed is
 * accepted, so a secret can be rotated without a gap. A Map, so a cluster
 * named after an Object property (`constructor`, `toString`) is simply unknown.
 */
export function clusterSecrets(env: Pick<SettingsEnv, 'CLUSTER_SECRETS'>): ReadonlyMap<string, string[]> {
  return parseClusterSecrets(env.CLUSTER_SECRETS);
}

/** A root secret setting, checked; null when unset. */
function rootSetting(root: string | undefined, name: string): string | null {
  if (!root) return null;
  if (root.length < MIN_ROOT_LENGTH) {
    throw new SettingsError(`invalid ${name}: expected at least ${MIN_ROOT_LENGTH} characters, got ${root.length} (value not shown)`);
  }
  return root;
}

/**
 * The root secrets cluster heartbeat keys are derived from (cluster-key.js):
 * `CLUSTER_ROOT_KEY`, then `CLUSTER_ROOT_KEY_PREVIOUS` while the root is
 * being rotated (keys derived from either are accepted, so agents move to
 * the new root's keys without a gap). None when unset: then only
 * `CLUSTER_SECRETS` are accepted. One secret for any number of clusters.
 */
export function clusterRootKeys(env: Pick<SettingsEnv, 'CLUSTER_ROOT_KEY' | 'CLUSTER_ROOT_KEY_PREVIOUS'>): string[] {
  const current = rootSetting(env.CLUSTER_ROOT_KEY, 'CLUSTER_ROOT_KEY');
  const previous = rootSetting(env.CLUSTER_ROOT_KEY_PREVIOUS, 'CLUSTER_ROOT_KEY_PREVIOUS');
  if (previous !== null && current === null) throw new SettingsError('invalid CLUSTER_ROOT_KEY_PREVIOUS: set only beside CLUSTER_ROOT_KEY (the new root)');
  return [current, previous].filter((root): root is string => root !== null && !(root === previous && root === current));
}

/** When set, the admin routes (keys: rotate, revoke) take `Authorization: Bearer <token>` (`ADMIN_TOKEN`); unset, they are off. */
export function adminToken(env: Pick<SettingsEnv, 'ADMIN_TOKEN'>): string | null {
  const token = env.ADMIN_TOKEN;
  if (!token) return null;
  if (token.length < 16) throw new SettingsError(`invalid ADMIN_TOKEN: expected at least 16 characters, got ${token.length} (value not shown)`);
  return token;
}

const parseWebhooks = memo((text) => validateSecret(z.array(webhookSchema), json(text, 'WEBHOOKS') ?? [], 'WEBHOOKS'));

/** Where alerts go (`WEBHOOKS`). Their URLs often carry a token (Slack's do), so errors never quote them. */
export function webhooks(env: Pick<SettingsEnv, 'WEBHOOKS'>): Webhook[] {
  return parseWebhooks(env.WEBHOOKS);
}

/** Signs generic JSON webhooks (`WEBHOOK_SECRET`). */
export function webhookSecret(env: Pick<SettingsEnv, 'WEBHOOK_SECRET'>): string | null {
  return env.WEBHOOK_SECRET || null;
}

const parseDeadManUrl = memo((text) =>
  text ? validateSecret(z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }), text, 'DEAD_MAN_URL') : null,
);

/** Pinged after every round in which all clusters are healthy (`DEAD_MAN_URL`). */
export function deadManUrl(env: Pick<SettingsEnv, 'DEAD_MAN_URL'>): string | null {
  return parseDeadManUrl(env.DEAD_MAN_URL);
}

/** When set, reads need `Authorization: Bearer <token>` (`READ_TOKEN`). */
export function readToken(env: Pick<SettingsEnv, 'READ_TOKEN'>): string | null {
  return env.READ_TOKEN || null;
}

/**
 * Every secret value in the worker's settings, for scrubbing text before it
 * is logged: the last line of defence if some error message ever quotes one.
 * Works on raw text, so it also covers settings too broken to parse.
 */
export function secretValues(env: SettingsEnv): string[] {
  const values = new Set<string>();
  for (const whole of [env.WEBHOOK_SECRET, env.DEAD_MAN_URL, env.READ_TOKEN, env.CLUSTER_ROOT_KEY, env.CLUSTER_ROOT_KEY_PREVIOUS, env.ADMIN_TOKEN])
    if (whole && whole.length >= 8) values.add(whole);
  // String values (not keys) of the JSON text, whether or not it parses: the cluster secrets, and the webhook URLs.
  const literals = (text: string | undefined) => [...(text ?? '').matchAll(/"((?:[^"\\]|\\.){8,})"(?!\s*:)/g)].map((m) => m[1]!);
  for (const value of literals(env.CLUSTER_SECRETS)) values.add(value);
  for (const value of literals(env.WEBHOOKS)) if (value.includes('://')) values.add(value);
  // Longest first, so a secret that contains another is removed whole.
  return [...values].sort((a, b) => b.length - a.length);
}
