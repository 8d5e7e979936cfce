/*
 * Failpoints, as etcd's gofail or FreeBSD's fail(9): named places inside a
 * change of several files where a test kills the process (SIGKILL, as a power
 * cut or the OOM killer would) to prove that a crash there leaves a valid live
 * file and a next run that ends right. Inert unless SQLITENING_FAILPOINT,
 * read once at start, names one.
 */
const armed = process.env.SQLITENING_FAILPOINT;

export function failpoint(name: string): void {
  if (armed === name) process.kill(process.pid, 'SIGKILL');
}
