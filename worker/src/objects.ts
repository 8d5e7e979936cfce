/*
 * How the worker and the objects find each other: the board's index is one
 * `BoardIndex` object named "global" (binding BOARD); each cluster is one
 * `ClusterBoard` object named after the cluster (binding CLUSTERS).
 */

export function indexStub(env: Pick<Env, 'BOARD'>) {
  return env.BOARD.get(env.BOARD.idFromName('global'));
}

export function clusterStub(env: Pick<Env, 'CLUSTERS'>, cluster: string) {
  return env.CLUSTERS.get(env.CLUSTERS.idFromName(cluster));
}
