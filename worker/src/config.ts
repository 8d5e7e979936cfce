import { durationSchema, validate, z } from '@sqlitening/contract';

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

const webhookSchema = z.object({
  url: z.url(),
  /** `json`: a signed generic JSON body; `slack`: a Slack-compatible incoming-webhook body. */
  kind: z.enum(['json', 'slack']).default('json'),
});

const configSchema = z.object({
  /** Clusters that must report; one that never does is stale (silent). */
  expectedClusters: z.array(z.string()).default([]),
  /** Pods that stop reporting are forgotten after this (a scaled-down pod must not alert forever). */
  podTtl: durationSchema.prefault('1h'),
  rules: ruleSchema.prefault({}),
  /** Per-cluster overrides of `rules`. */
  clusterRules: z.record(z.string(), ruleSchema.partial()).default({}),
  /** While a cluster stays stale, send a reminder this often. */
  reminderEvery: durationSchema.prefault('1h'),
  /** Delay before the first retry of a failed webhook delivery; doubled for each later one. */
  retryBase: durationSchema.prefault('30s'),
  /** Delivery attempts before giving up on a webhook. */
  maxAttempts: z.number().int().positive().default(8),
  /** How often the alarm evaluates the rules. */
  evaluateEvery: durationSchema.prefault('1m'),
});

export type BoardConfig = z.output<typeof configSchema>;
export type Rule = z.output<typeof ruleSchema>;
export type Webhook = z.output<typeof webhookSchema>;

const secretSchema = z.string().min(16, 'expected a secret of at least 16 characters');
/** A secret, or up to three during a rotation (agents may sign with any of them). */
const clusterSecretsSchema = z.record(z.string(), z.union([secretSchema.transform((one) => [one]), z.array(secretSchema).min(1).max(3)]));

export interface Secrets {
  /** Per-cluster heartbeat secrets: every one listed is accepted, so a secret can be rotated without a gap. */
  clusterSecrets: Record<string, string[]>;
  webhooks: Webhook[];
  /** Signs generic JSON webhooks. */
  webhookSecret: string | null;
  /** Pinged after every round in which all clusters are healthy. */
  deadManUrl: string | null;
  /** When set, reads need `Authorization: Bearer <token>`. */
  readToken: string | null;
}

function json(text: string | undefined, what: string): unknown {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what} is not valid JSON`);
  }
}

/** The board's settings: `BOARD_CONFIG` (a JSON var) with defaults for everything. */
export function readConfig(env: { BOARD_CONFIG?: string }): BoardConfig {
  return validate(configSchema, json(env.BOARD_CONFIG, 'BOARD_CONFIG') ?? {}, 'BOARD_CONFIG');
}

export function ruleFor(config: BoardConfig, cluster: string): Rule {
  return { ...config.rules, ...(config.clusterRules[cluster] ?? {}) } as Rule;
}

/** Secrets, set with `wrangler secret put` (locally in `.dev.vars`). */
export function readSecrets(env: {
  CLUSTER_SECRETS?: string;
  WEBHOOKS?: string;
  WEBHOOK_SECRET?: string;
  DEAD_MAN_URL?: string;
  READ_TOKEN?: string;
}): Secrets {
  return {
    clusterSecrets: validate(clusterSecretsSchema, json(env.CLUSTER_SECRETS, 'CLUSTER_SECRETS') ?? {}, 'CLUSTER_SECRETS'),
    webhooks: validate(z.array(webhookSchema), json(env.WEBHOOKS, 'WEBHOOKS') ?? [], 'WEBHOOKS'),
    webhookSecret: env.WEBHOOK_SECRET || null,
    deadManUrl: env.DEAD_MAN_URL || null,
    readToken: env.READ_TOKEN || null,
  };
}
