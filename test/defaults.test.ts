import { readFileSync } from 'node:fs';
import { parseDuration } from '@sqlitening/contract';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readSettings } from '../src/action/settings.js';
import { Inputs } from '../src/action/constants.js';
import { DEFAULTS } from '../src/defaults.js';

const action = parse(readFileSync('action.yml', 'utf8')) as { inputs: Record<string, { default?: string }> };
const inputDefault = (input: Inputs): string => action.inputs[input]?.default ?? '';

describe('defaults', () => {
  it("action.yml's defaults are the product's defaults (src/defaults.ts)", () => {
    expect(inputDefault(Inputs.Keep)).toBe(String(DEFAULTS.keep));
    expect(parseDuration(inputDefault(Inputs.Grace), 'grace')).toBe(DEFAULTS.graceMs);
    expect(inputDefault(Inputs.Vacuum)).toBe(DEFAULTS.vacuum);
    expect(Number(inputDefault(Inputs.VacuumThreshold))).toBe(DEFAULTS.vacuumThreshold);
    expect(inputDefault(Inputs.Encoding)).toBe(DEFAULTS.encoding);
    expect(inputDefault(Inputs.StartFrom)).toBe(DEFAULTS.startFrom);
  });

  it('the Action reads the same values from action.yml as it does from empty inputs', () => {
    const env = { GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567', GITHUB_WORKSPACE: '/tmp', RUNNER_TEMP: '/tmp' };
    const given = (input: Inputs): string => (input === Inputs.Store ? 's3://bucket' : input === Inputs.Migrations ? 'db' : '');
    const fromYaml = (input: Inputs): string => given(input) || inputDefault(input);
    const settings = (get: (input: Inputs) => string) => {
      const read = readSettings(get, env);
      if (read.mode !== 'commit') throw new Error(`expected one commit, got ${read.mode}`);
      return read.build;
    };
    expect(settings(fromYaml)).toEqual(settings(given));
  });
});
