import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';

const TASK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function assertTaskName(name: string): void {
  if (!TASK_NAME.test(name)) {
    throw new UsageError(`invalid task name: expected 1-63 letters, digits, dots, dashes or underscores, got ${JSON.stringify(name)}`);
  }
}

/**
 * Records a task's success now: the marker's mtime is the time of the last
 * success, so any job (cron, a translation sync) joins health checks by
 * touching its file.
 */
export async function touchTask(tasksFolder: string, name: string, at = new Date()): Promise<void> {
  assertTaskName(name);
  await mkdir(tasksFolder, { recursive: true });
  const file = path.join(tasksFolder, name);
  try {
    await utimes(file, at, at);
  } catch {
    await writeFile(file, '');
    await utimes(file, at, at);
  }
}

/** Every marker in the folder with its last success. */
export async function readTasks(tasksFolder: string): Promise<Map<string, Date>> {
  const found = new Map<string, Date>();
  let names: string[];
  try {
    names = await readdir(tasksFolder);
  } catch {
    return found;
  }
  for (const name of names) {
    if (!TASK_NAME.test(name)) continue;
    try {
      found.set(name, (await stat(path.join(tasksFolder, name))).mtime);
    } catch {
      // removed between readdir and stat
    }
  }
  return found;
}
