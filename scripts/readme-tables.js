// Writes docs/exit-codes.md's generated tables from the code that defines them, so the
// two cannot drift (a test fails when they differ):  npm run docs
//   exit codes and reasons  ← src/reasons.ts (EXIT_CODES, REASONS)
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { EXIT_CODES, REASONS, exitCodeOf } = await import(path.join(root, 'lib', 'reasons.js'));

export function exitCodesTable() {
  const codes = ['| exit | meaning |', '| ---: | --- |', ...EXIT_CODES.map((e) => `| \`${e.code}\` | ${e.meaning} |`)];
  const reasons = [
    '| reason | exit | retried | meaning |',
    '| --- | ---: | --- | --- |',
    ...REASONS.map((r) => `| \`${r.code}\` | ${exitCodeOf(r.kind)} | ${r.retryable ? 'yes' : 'no'} | ${r.meaning} |`),
  ];
  return [...codes, '', ...reasons].join('\n');
}

/** `text` with the block between `<!-- name:start -->` and `<!-- name:end -->` replaced. */
export function replaceBlock(text, name, body) {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from === -1 || to < from) throw new Error(`docs/exit-codes.md has no ${start} … ${end} block`);
  return `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = path.join(root, 'docs', 'exit-codes.md');
  const text = await readFile(file, 'utf8');
  await writeFile(file, replaceBlock(text, 'exit-codes', exitCodesTable()));
}
