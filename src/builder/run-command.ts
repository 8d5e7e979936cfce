import { spawn } from 'node:child_process';
import { DatabaseError } from '../errors.js';

const TAIL_BYTES = 2048;

export interface CommandOptions {
  /** What the command is for, in messages: `loader`, `migration command`. */
  role: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Where the command's own output goes (our stderr, so stdout stays clean for `--json`). */
  output: NodeJS.WritableStream;
}

/**
 * Runs a shell command to completion. A non-zero exit or a signal throws a
 * `DatabaseError` with the exit code and the tail of the command's stderr.
 */
export function runCommand(command: string, options: CommandOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = Buffer.alloc(0);
    child.stdout.on('data', (chunk: Buffer) => options.output.write(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      options.output.write(chunk);
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > TAIL_BYTES) tail = tail.subarray(tail.length - TAIL_BYTES);
    });
    child.on('error', (error) =>
      reject(new DatabaseError(`${options.role} "${command}" could not start: ${error.message}`, `${options.role.replace(/ /g, '-')}-failed`)),
    );
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}` : `failed with exit code ${code}`;
      const stderr = tail.toString('utf8').trim().split('\n').slice(-5).join(' | ');
      reject(new DatabaseError(`${options.role} "${command}" ${how}${stderr ? `: ${stderr}` : ' (no stderr)'}`, `${options.role.replace(/ /g, '-')}-failed`));
    });
  });
}
