import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_TRANSFER_LIMITS, type TransferLimits } from '../snapshot/transfer-limits.js';
import { assertName, type Encoding, ENCODINGS, formatDuration, UsageError } from '@sqlitening/contract';
import { errorMessage } from '../describe-error.js';
import { parseDuration, parseInteger, parseShare, parseSize } from '../values.js';
import type { StoreSettings } from '../store/open-store.js';

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
      new Option('--store <url>', 's3://bucket[/prefix], file:///folder (or a folder path), or http(s)://base-url (read-only)').env('SQLITENING_STORE'),
    )
    .addOption(new Option('--endpoint <url>', 'S3 API endpoint of an S3-compatible store (R2, MinIO)').env('SQLITENING_S3_ENDPOINT'))
    .addOption(new Option('--region <region>', 'S3 region (default: the AWS SDK chain; "auto" with --endpoint)').env('AWS_REGION'))
    .addOption(new Option('--path-style', 'address buckets as endpoint/bucket (MinIO)').env('SQLITENING_S3_PATH_STYLE'));
}

export function storeSettings(options: { store?: string; endpoint?: string; region?: string; pathStyle?: boolean | string }): StoreSettings {
  return {
    url: options.store ?? '',
    endpoint: options.endpoint,
    region: options.region,
    forcePathStyle: options.pathStyle === true || options.pathStyle === 'true' || options.pathStyle === '1',
  };
}

export function encodingOption(): Option {
  return new Option('--encoding <name>', 'compression of the stored object').choices(ENCODINGS as unknown as string[]).default('gzip' satisfies Encoding);
}

/** --stall-timeout and --deadline: the limits of every transfer of the command. */
export function addTransferOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--stall-timeout <duration>', 'fail a read when no bytes arrive for this long; a manifest must arrive within twice this')
        .argParser(durationArg)
        .default(DEFAULT_TRANSFER_LIMITS.stallTimeoutMs, '30s'),
    )
    .addOption(
      new Option('--deadline <duration>', 'fail a snapshot or delta transfer that has not ended after this long')
        .argParser(durationArg)
        .default(DEFAULT_TRANSFER_LIMITS.deadlineMs, '1h'),
    );
}

/** The limits given by {@link addTransferOptions}' flags. */
export function transferLimits(flags: { stallTimeout: number; deadline: number }): TransferLimits {
  return { stallTimeoutMs: flags.stallTimeout, deadlineMs: flags.deadline };
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
    .default(5_000, '5s');
}
