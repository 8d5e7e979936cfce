import path from 'node:path';

/** Where the agent keeps its files: beside the database, so renames stay on one file system. */
export interface AgentPaths {
  /** The live database the app reads. */
  database: string;
  /** Its folder; temp downloads go here. */
  folder: string;
  /** `state.json`: what is installed and how the last run that changed anything went (see `stateChanged`). */
  state: string;
  /** Locked by the running agent (a kernel lock, dropped when its process ends). */
  lock: string;
  /** `pid@host` of the agent holding the lock: only for the message another agent prints. */
  lockHolder: string;
  /** Marker files, one per task; a marker's mtime is the task's last success. */
  tasks: string;
  /** The chunk hashes of the live database (binary), the base of the next delta. */
  chunks: string;
  /** The identity (inode, size, mtime) of the live file those hashes were saved for. */
  chunksOf: string;
  /** `.sqlitening/`: the agent's own files, on the database's file system. */
  meta: string;
  /** A delta's pages, held here until the manifest's root proves them (see staged-pages.ts). */
  staging: string;
}

export function agentPaths(database: string): AgentPaths {
  const resolved = path.resolve(database);
  const folder = path.dirname(resolved);
  const meta = path.join(folder, '.sqlitening');
  return {
    database: resolved,
    folder,
    state: path.join(meta, 'state.json'),
    lock: path.join(meta, 'agent.lock'),
    lockHolder: path.join(meta, 'agent.lock.holder'),
    tasks: path.join(meta, 'tasks'),
    chunks: path.join(meta, 'chunks.bin'),
    chunksOf: path.join(meta, 'chunks.of'),
    meta,
    staging: path.join(meta, 'incoming.pages'),
  };
}

/** The marker of the built-in task: the database is fresh. */
export const DATABASE_TASK = 'database';
