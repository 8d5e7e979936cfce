/*
 * Failpoints, as etcd's gofail or FreeBSD's fail(9): named places inside a
 * change of several files where a test kills the process (SIGKILL, as a power
 * cut or the OOM killer would) to prove that a crash there leaves a valid live
 * file and a next run that ends right. Inert unless an entry point arms one
 * (the CLI does from SQLITENING_FAILPOINT): the library reads no environment.
 */
let armed: string | null = null;

/** Arms the failpoint named `name` (null: none) for this process. */
export function armFailpoint(name: string | null): void {
  armed = name;
}

export function failpoint(name: string): void {
  if (armed === name) process.kill(process.pid, 'SIGKILL');
}
