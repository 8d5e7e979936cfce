#!/usr/bin/env node
// The size rules a newcomer relies on, checked with the compiler's own parser: no source file in src/ over 300 lines
// and no function over 80 lines (generated code excepted). A module that outgrows them holds more than one concept.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const MAX_FILE_LINES = 300;
const MAX_FUNCTION_LINES = 80;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_FOLDERS = ['src', 'packages/contract/src', 'worker/src'];
const GENERATED = new Set(['worker/src/worker-configuration.d.ts']);

function* sourceFiles(folder) {
  for (const entry of readdirSync(path.join(root, folder), { withFileTypes: true })) {
    const relative = path.posix.join(folder, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(relative);
    else if (/\.(ts|tsx)$/.test(entry.name) && !GENERATED.has(relative)) yield relative;
  }
}

function nameOf(node, source) {
  if (node.name) return node.name.getText(source);
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))) return parent.name.getText(source);
  return '(anonymous)';
}

const problems = [];
for (const file of SOURCE_FOLDERS.flatMap((folder) => [...sourceFiles(folder)])) {
  const text = readFileSync(path.join(root, file), 'utf8');
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (file.startsWith('src/') && lines > MAX_FILE_LINES) problems.push(`${file}: ${lines} lines (at most ${MAX_FILE_LINES})`);
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.end).line;
      if (end - start + 1 > MAX_FUNCTION_LINES) {
        problems.push(`${file}:${start + 1}: function ${nameOf(node, source)} has ${end - start + 1} lines (at most ${MAX_FUNCTION_LINES})`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}

if (problems.length > 0) {
  console.error(`structure: ${problems.length} rule(s) broken\n${problems.map((p) => `  ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`structure: files in src/ at most ${MAX_FILE_LINES} lines, functions at most ${MAX_FUNCTION_LINES} lines`);
