import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addStoreOptions, type StoreFlags, storeSettingsOfFlags } from '../src/cli/options.js';
import { storeSettingsFromUrl } from '../src/store/open-store.js';
import { parseBoolean } from '../src/values.js';

/** `--path-style` as the CLI reads it from its arguments and environment: the one yes-or-no reading. */
function pathStyle(argv: string[], env: string | undefined): boolean {
  const saved = process.env.SQLITENING_S3_PATH_STYLE;
  if (env === undefined) delete process.env.SQLITENING_S3_PATH_STYLE;
  else process.env.SQLITENING_S3_PATH_STYLE = env;
  try {
    const command = addStoreOptions(new Command().exitOverride().configureOutput({ writeErr: () => {} })).action(() => {});
    command.parse(argv, { from: 'user' });
    return storeSettingsOfFlags({ ...command.opts<StoreFlags>(), store: ['s3://bucket/site'] })[0]!.forcePathStyle === true;
  } finally {
    if (saved === undefined) delete process.env.SQLITENING_S3_PATH_STYLE;
    else process.env.SQLITENING_S3_PATH_STYLE = saved;
  }
}

describe('yes-or-no settings', () => {
  it('read the same words everywhere: true, yes, 1 / false, no, 0, in any case', () => {
    for (const word of ['true', 'YES', '1']) expect(parseBoolean(word, 'x')).toBe(true);
    for (const word of ['false', 'No', '0', '']) expect(parseBoolean(word, 'x')).toBe(false);
    expect(() => parseBoolean('maybe', 'input x')).toThrow('invalid input x: expected true or false (yes or no, 1 or 0), got "maybe"');
  });

  it('--path-style and SQLITENING_S3_PATH_STYLE: a value of false or no turns it off, an unknown one is refused', () => {
    expect(pathStyle([], undefined)).toBe(false);
    expect(pathStyle(['--path-style'], undefined)).toBe(true);
    expect(pathStyle([], 'yes')).toBe(true);
    expect(pathStyle([], 'false')).toBe(false);
    expect(pathStyle(['--path-style'], 'false')).toBe(true);
    expect(pathStyle(['--no-path-style'], 'true')).toBe(false);
    expect(() => pathStyle([], 'maybe')).toThrow('invalid SQLITENING_S3_PATH_STYLE: expected true or false (yes or no, 1 or 0), got "maybe"');
  });

  it('--path-style takes no value: the next word stays an argument', () => {
    const command = addStoreOptions(new Command().exitOverride().configureOutput({ writeErr: () => {} }))
      .argument('<file>')
      .action(() => {});
    command.parse(['--store', 's3://bucket', '--path-style', 'site.db'], { from: 'user' });
    expect(command.args).toEqual(['site.db']);
    expect(command.opts<StoreFlags>().pathStyle).toBe(true);
  });

  it('?path-style in a store URL: bare is on, and its value is read the same way', () => {
    expect(storeSettingsFromUrl('s3://bucket?path-style', {}, {}).forcePathStyle).toBe(true);
    expect(storeSettingsFromUrl('s3://bucket?path-style=no', { forcePathStyle: true }, {}).forcePathStyle).toBe(false);
    expect(storeSettingsFromUrl('s3://bucket?path-style=YES', {}, {}).forcePathStyle).toBe(true);
    expect(() => storeSettingsFromUrl('s3://bucket?path-style=maybe', {}, {})).toThrow(/path-style: expected true or false/);
  });
});
