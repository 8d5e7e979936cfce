import { InvalidArgumentError, Option, type Command } from 'commander';
import { ENCODINGS, type Encoding } from '../contract/manifest.js';
import { parseDuration } from '../duration.js';
import type { StoreSettings } from '../store/open-store.js';

/** Parsers for commander that reject bad values with what was expected and what came. */
export function integerArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const number = Number(value);
    if (!/^-?\d+$/.test(value) || number < min || number > max) {
      throw new InvalidArgumentError(`Expected a whole number from ${min} to ${max}, got "${value}".`);
    }
    return number;
  };
}

export function shareArg(value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number < 0 || number > 1) {
    throw new InvalidArgumentError(`Expected a share from 0 to 1 (0.25 = 25%), got "${value}".`);
  }
  return number;
}

export function durationArg(value: string): number {
  try {
    return parseDuration(value, 'a duration');
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message}.`);
  }
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The store flags shared by every command that talks to a store. */
export function addStoreOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--store <url>', 's3://bucket[/prefix], file:///folder (or a folder path), or http(s)://base-url (read-only)').env(
        'SQLITENING_STORE',
      ),
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
