import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

describe('the docs', () => {
  it('shows the exit codes as src/reasons.ts defines them (npm run docs)', async () => {
    const { exitCodesTable, replaceBlock } = (await import('../scripts/readme-tables.js')) as {
      exitCodesTable: () => string;
      replaceBlock: (text: string, name: string, body: string) => string;
    };
    const readme = await readFile('docs/exit-codes.md', 'utf8');
    expect(readme).toContain('| `4` |');
    expect(replaceBlock(readme, 'exit-codes', exitCodesTable())).toBe(readme);
  });
});
