import { DEFAULTS } from '../defaults.js';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import { assertName, ENCODINGS, formatDuration, UsageError } from '@sqlitening/contract';
import { errorMessage } from '../describe-error.js';
import { parseBoolean, parseDuration, parseInteger, parseShare, parseSize } from '../values.js';
import { MirrorStore } from '../store/mirror-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { openStore, type StoreSettings, storeSettingsList } from '../store/open-store.js';
import type { Reporter } from './reporter.js';

/** Turns a value parser's `UsageError` into commander's error, which names the flag. */
function forCommander<T>(parse: (text: string, what: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value, 'value');
    } catch (error) {
      throw new InvalidArgumentError(errorMessage(error));
    }
  };
}

export const integerArg = (min: number, max?: number) => forCommander((text, what) => parseInteger(text, what, min, max));
export const shareArg = forCommander(parseShare);
export const durationArg = forCommander(parseDuration);
/** A duration of at least `minMs`: an interval of 0 would poll a store in a tight loop. */
export const durationAtLeastArg = (minMs: number) =>
  forCommander((text, what) => {
    const ms = parseDuration(text, what);
    if (ms < minMs) throw new UsageError(`invalid ${what}: expected a duration of at least ${formatDuration(minMs)}, got ${JSON.stringify(text)}`);
    return ms;
  });
export const sizeArg = forCommander(parseSize);

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The store flags shared by every command that talks to a store. */
export function addStoreOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--store <url>',
        's3://bucket[/prefix][?endpoint=URL&region=R&path-style&profile=P|credentials-env=PREFIX], file:///folder (or a folder path), or http(s)://base-url (read-only); repeat for mirrors, the preferred first',
      )
        .env('SQLITENING_STORE')
        .argParser(collect),
    )
    .addOption(
      new Option('--endpoint <url>', 'S3 API endpoint of an S3-compatible store (R2, MinIO); for every s3:// store that gives no ?endpoint').env(
        'SQLITENING_S3_ENDPOINT',
      ),
    )
    .addOption(new Option('--region <region>', 'S3 region (default: the AWS SDK chain; "auto" with --endpoint)').env('AWS_REGION'))
    .option('--path-style', 'address buckets as endpoint/bucket (MinIO); default: SQLITENING_S3_PATH_STYLE (true/false, yes/no, 1/0)')
    .option('--no-path-style', 'address buckets as bucket.endpoint, whatever SQLITENING_S3_PATH_STYLE says');
}

/** The flags of {@link addStoreOptions}. */
export interface StoreFlags {
  store?: string[] | undefined;
  endpoint?: string | undefined;
  region?: string | undefined;
  pathStyle?: boolean | undefined;
  /** `--stall-timeout`, of the commands that take it ({@link addTransferOptions}): every store's transport limit. */
  stallTimeout?: number | undefined;
}

/**
 * Every store the flags name, in order, each with its settings (see {@link storeSettingsList}):
 * `--endpoint`, `--region` and `--path-style` are the defaults of every s3:// store.
 */
export function storeSettingsOfFlags(flags: StoreFlags): StoreSettings[] {
  return storeSettingsList(flags.store ?? [], {
    endpoint: flags.endpoint,
    region: flags.region,
    // Read here rather than by commander, which takes any value of a flag's variable (even "false") as set.
    forcePathStyle: flags.pathStyle ?? parseBoolean(process.env.SQLITENING_S3_PATH_STYLE ?? '', 'SQLITENING_S3_PATH_STYLE'),
    stallTimeoutMs: flags.stallTimeout,
  });
}

/** Opens every store the flags name, in order (the AWS credentials of `?credentials-env=` from the process environment). */
export function openStores(flags: StoreFlags): Promise<ObjectStore[]> {
  return Promise.all(storeSettingsOfFlags(flags).map((settings) => openStore(settings, process.env)));
}

/** The stores the flags name, for a command that writes (`verb` says which): a read-only one is a usage error. */
export async function openWritableStores(flags: StoreFlags, verb: string): Promise<ObjectStore[]> {
  const stores = await openStores(flags);
  const readOnly = stores.find((store) => !store.writable);
  if (readOnly) throw new UsageError(`cannot ${verb} ${readOnly.location}: it is read-only; use s3:// or a folder`);
  return stores;
}

/**
 * The stores the flags name, read as one: the store itself, or with several a {@link MirrorStore} that
 * reads from the first healthy one. A store that does not answer within the stall timeout is left for
 * the next, and each store left is reported.
 */
export async function openReadStore(flags: StoreFlags & { failback?: number | undefined }, out: Reporter): Promise<ObjectStore> {
  const stores = await openStores(flags);
  if (stores.length === 1) return stores[0]!;
  return new MirrorStore(stores, {
    retryAfterMs: flags.failback,
    onFailover: (event) =>
      out.event(
        'store.failover',
        { store: event.from.index, location: event.from.location, reason: event.reason, message: event.message },
        `Store ${event.from.index} (${event.from.location}) failed (${event.reason}: ${event.message}); reading from the next one`,
      ),
  });
}

/** --failback: how long a mirror that failed is asked last. */
export function failbackOption(): Option {
  return new Option('--failback <duration>', 'with several --store: after a store fails, read from the next ones for this long, then try it first again')
    .argParser(durationArg)
    .default(DEFAULTS.failbackMs, formatDuration(DEFAULTS.failbackMs));
}

/** --attempts of the commands that write to stores: tries of each store call. */
export function storeAttemptsOption(): Option {
  return new Option('--attempts <n>', 'tries of each store call for transient failures (network, 5xx), per store')
    .argParser(integerArg(1, 10))
    .default(DEFAULTS.attempts);
}

export function encodingOption(): Option {
  return new Option('--encoding <name>', 'compression of the stored object').choices(ENCODINGS as unknown as string[]).default(DEFAULTS.encoding);
}

/** --stall-timeout: every store's transport limit. */
export function stallTimeoutOption(): Option {
  return new Option(
    '--stall-timeout <duration>',
    'fail a store call that has no answer, or a read that gets no bytes, for this long; a manifest must arrive within twice this',
  )
    .argParser(durationArg)
    .default(DEFAULTS.stallTimeoutMs, formatDuration(DEFAULTS.stallTimeoutMs));
}

/** --stall-timeout and --deadline: the limits of every transfer of the command. */
export function addTransferOptions(command: Command): Command {
  return command
    .addOption(stallTimeoutOption())
    .addOption(
      new Option('--deadline <duration>', 'fail a snapshot or delta transfer that has not ended after this long')
        .argParser(durationArg)
        .default(DEFAULTS.deadlineMs, formatDuration(DEFAULTS.deadlineMs)),
    );
}

/** The limits given by {@link addTransferOptions}' flags. */
export function transferLimits(flags: { deadline: number }): TransferLimits {
  return { deadlineMs: flags.deadline };
}

/** --name (or SQLITENING_NAME): which database, checked against the contract's name rule as it is parsed. */
export function nameOption(description: string): Option {
  return new Option('--name <name>', description).env('SQLITENING_NAME').argParser(forCommander(assertName));
}

/**
 * --git-sha, --trust-key and --name of the commands that look up one commit's manifest and accept it
 * (`pull`, `wait`): one definition, so the two cannot drift apart in what they accept.
 */
export function addManifestOptions(command: Command): Command {
  return command
    .option('--git-sha <sha>', 'commit whose snapshot to look for (default: $GITHUB_SHA, then git rev-parse HEAD)')
    .option('--trust-key <file>', 'accept only a manifest signed by this Ed25519 public key (repeatable)', collect)
    .addOption(nameOption('refuse a manifest published with another --name, or none'));
}

/** The shortest --poll: below it a fleet of waiting pods would hammer the store for nothing. */
export const MIN_POLL_MS = 100;

/** --poll: how often a waiting command looks for the manifest. */
export function pollOption(): Option {
  return new Option('--poll <duration>', 'time between polls while the manifest is missing (after store failures: backing off up to 1m)')
    .argParser(durationAtLeastArg(MIN_POLL_MS))
    .default(DEFAULTS.pollMs, formatDuration(DEFAULTS.pollMs));
}
