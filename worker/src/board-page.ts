import { byName, clusterLines, type BoardCounts, type ClusterLine } from './board-view.js';
import { PAGE_LINES, type BoardQuery } from './board-query.js';
import type { BoardConfig } from './config.js';
import { countSummaries, neverReported, readClusterNames, readSummariesOf } from './index-rows.js';
import { overdueAfter, type Health } from './summary.js';

/*
 * One page of the global board, read in the board's index: the counts of the
 * whole board and at most PAGE_LINES lines. Reads go through the summaries'
 * indexes (index-rows.ts), so a page costs about the same at 10 clusters and
 * at 10,000. Expected clusters that never reported have no summary; they are
 * stale lines, found from the configuration (a short list: it must fit in a
 * 5 KB variable).
 */

export interface BoardPage {
  counts: BoardCounts;
  page: BoardQuery;
  next: BoardQuery | null;
  clusters: ClusterLine[];
}

/** Up to `limit` lines of one health after `after`, and whether more follow. */
function linesOf(sql: SqlStorage, config: BoardConfig, health: Health, after: string | null, limit: number, now: number) {
  const overdueBefore = now - overdueAfter(config);
  let ids = readClusterNames(sql, health, after, overdueBefore, limit + 1);
  if (health === 'stale') {
    // Expected clusters that never reported are stale too; merged into the stale lines by name.
    const silent = neverReported(
      sql,
      config.expectedClusters.filter((id) => after === null || id > after),
    );
    ids = [...ids, ...silent].sort(byName).slice(0, limit + 1);
  }
  const more = ids.length > limit;
  const shown = ids.slice(0, limit);
  const summaries = readSummariesOf(sql, shown);
  const expectedShown = shown.filter((id) => config.expectedClusters.includes(id));
  // clusterLines sorts by health then name; within one health, that is the order read.
  const lines = clusterLines(summaries, expectedShown, config, now);
  return { lines, more, last: shown.at(-1) ?? null };
}

/** The counts of the whole board: summaries by health (overdue ones stale), and expected clusters that never reported as stale. */
function boardCounts(sql: SqlStorage, config: BoardConfig, now: number): BoardCounts {
  const counts = countSummaries(sql, now - overdueAfter(config));
  counts.stale += neverReported(sql, config.expectedClusters).length;
  return { clusters: counts.stale + counts.degraded + counts.ok, ...counts };
}

/**
 * The page `query` asks for. The first page lists stale clusters, then
 * degraded ones, then fresh ones while the whole board fits in one page;
 * past that, fresh clusters are only counted (`?health=ok` lists them). When
 * a health's lines do not fit, `next` continues them.
 */
export function readBoardPage(sql: SqlStorage, config: BoardConfig, query: BoardQuery, now: number): BoardPage {
  const counts = boardCounts(sql, config, now);
  if (query.health !== null) {
    const { lines, more, last } = linesOf(sql, config, query.health, query.after, PAGE_LINES, now);
    return { counts, page: query, next: more ? { health: query.health, after: last } : null, clusters: lines };
  }
  const shown: ClusterLine[] = [];
  const healths: Health[] = counts.clusters <= PAGE_LINES ? ['stale', 'degraded', 'ok'] : ['stale', 'degraded'];
  for (const health of healths) {
    const { lines, more, last } = linesOf(sql, config, health, null, PAGE_LINES - shown.length, now);
    shown.push(...lines);
    if (more) return { counts, page: query, next: { health, after: last }, clusters: shown };
  }
  return { counts, page: query, next: null, clusters: shown };
}
