import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { assertName, NAME_PATTERN } from '@sqlitening/contract';

export function assertTaskName(name: string): void {
  assertName(name, 'task name');
}

/**
 * Records a task's success now: the marker's mtime is the time of the last
 * success, so any job (cron, a translation sync) joins health checks by
 * touching its file.
 */
export async function touchTask(tasksFolder: string, name: string, at = new Date()): Promise<void> {
  assertTaskName(name);
  const file = path.join(tasksFolder, name);
  try {
    // The marker exists after its first success: one call, as the agent makes on every poll.
    await utimes(file, at, at);
  } catch {
    await mkdir(tasksFolder, { recursive: true });
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
    if (!NAME_PATTERN.test(name)) continue;
    try {
      found.set(name, (await stat(path.join(tasksFolder, name))).mtime);
    } catch {
      // removed between readdir and stat
    }
  }
  return found;
}
