// What running Sqlitening costs at fleet scale, from unit counts measured on
// this machine: requests and bytes of an idle poll, a delta sync, a full sync
// and a publish (through a counting HTTP proxy in front of an S3-protocol
// server), and the Durable Object work per heartbeat (the board's own objects
// under wrangler dev, counting what Cloudflare bills). docs/COST.md is this
// script's output, and a test checks that its tables are what costModel()
// computes from the unit counts the document records.
//   npm run cost                            measure (about two minutes on 2 cores), then write docs/COST.md
//   node scripts/cost-model.js --render     rewrite docs/COST.md from the unit counts it records (after a price change)
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DOC = path.join(root, 'docs', 'COST.md');

const KIB = 1024;
const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

// ---------------------------------------------------------------------------
// Prices. Update them here, then `node scripts/cost-model.js --render`.
// ---------------------------------------------------------------------------

/** Published list prices, USD. Each group says where it was read and when. */
export const PRICES = {
  s3: {
    name: 'AWS S3 Standard, us-east-1',
    getPer1000: 0.0004, // GET, SELECT and all other requests (GetObject, HeadObject; a 304 is a GET)
    putPer1000: 0.005, // PUT, COPY, POST, LIST requests (PutObject, UploadPart, multipart create/complete, ListObjectsV2)
    storageGbMonth: 0.023, // first 50 TB
    /** Data transfer out to the internet, per GB per month: [GB in the tier, price]. Above 500 TB AWS prices by agreement. */
    egressTiers: [
      [10 * 1024, 0.09],
      [40 * 1024, 0.085],
      [100 * 1024, 0.07],
      [Number.POSITIVE_INFINITY, 0.05],
    ],
    source:
      'the figures used on 2026-11-26, not re-checked against aws.amazon.com/s3/pricing (its stored copy shows template placeholders, not prices); ' +
      'the egress tiers agree with usage.ai, "S3 Egress Cost" (updated 2026-06-04), and the storage price with cloudburn.io, "Amazon S3 Pricing Explained" (2026-03-13, us-east-1)',
  },
  r2: {
    name: 'Cloudflare R2, Standard storage',
    classAPerMillion: 4.5,
    classBPerMillion: 0.36,
    storageGbMonth: 0.015,
    freeClassA: 1_000_000, // per month
    freeClassB: 10_000_000, // per month
    freeStorageGbMonth: 10,
    source:
      'developers.cloudflare.com/r2/pricing (cloudflare/cloudflare-docs src/content/docs/r2/pricing.mdx); the stored copy carries no date, read 2026-11-26',
  },
  workers: {
    name: 'Cloudflare Workers Paid (Standard usage model)',
    baseMonth: 5,
    includedRequests: 10_000_000,
    perMillionRequests: 0.3,
    includedCpuMs: 30_000_000,
    perMillionCpuMs: 0.02,
    source:
      'developers.cloudflare.com/workers/platform/pricing (src/content/docs/workers/platform/pricing.mdx); the stored copy carries no date, read 2026-11-26',
  },
  durableObjects: {
    name: 'Cloudflare Durable Objects (SQLite storage backend), Workers Paid',
    includedRequests: 1_000_000, // per month; RPC calls and alarm invocations are each a request
    perMillionRequests: 0.15,
    includedGbS: 400_000,
    perMillionGbS: 12.5,
    gbPerObject: 0.128, // 128 MB per active object, as Cloudflare's own examples compute it
    includedRowsRead: 25_000_000_000,
    perMillionRowsRead: 0.001,
    includedRowsWritten: 50_000_000,
    perMillionRowsWritten: 1.0, // each setAlarm() is billed as one row written
    source:
      'developers.cloudflare.com/durable-objects/platform/pricing (src/content/partials/durable-objects/durable-objects-pricing.mdx); ' +
      'SQLite storage billing from 2026-01-07 (Durable Objects release notes, last updated 2026-04-21); the pricing page carries no date, read 2026-11-26',
  },
};

// ---------------------------------------------------------------------------
// Assumptions of the model (what is not measured).
// ---------------------------------------------------------------------------

export const ASSUMPTIONS = {
  pods: 10_000,
  pollMinutes: 5,
  updatesPerDay: 24,
  daysPerMonth: 30,
  /** Database sizes the model shows; bytes moved scale linearly from the measured database. */
  databaseSizes: [GIB, 100 * MIB],
  /** The board: pods per cluster (the measurement ran one cluster of this size at its real heartbeat rate). */
  podsPerCluster: 100,
  /** The index's alarm round, every evaluateEvery (1 minute), and the cron trigger every 5 minutes: fleet-wide, from the design. */
  indexRoundsPerDay: 1440,
  cronPerDay: 288,
  /**
   * Worker CPU per heartbeat: workerd's CPU (the worker and both objects, under wrangler dev) for one heartbeat per
   * request, from `node worker/bench/board.js` as worker/README.md reports it ("ingest, one heartbeat per request").
   * An upper bound for what Workers bills as CPU: it includes the objects, which are billed by duration instead.
   */
  workerCpuMsPerHeartbeat: 7.11,
  /** Bytes per GB: 2^30 (with 10^9, every per-GB figure is 7% higher). */
  gb: GIB,
};

/** Which price class each S3 API operation falls in (S3 and R2 agree for the operations Sqlitening uses). */
export const OPERATION_CLASS = {
  GetObject: 'B',
  HeadObject: 'B',
  HeadBucket: 'B',
  PutObject: 'A',
  UploadPart: 'A',
  CreateMultipartUpload: 'A',
  CompleteMultipartUpload: 'A',
  ListObjectsV2: 'A',
  DeleteObject: 'free',
  AbortMultipartUpload: 'free',
};

// ---------------------------------------------------------------------------
// The model: pure, from the unit counts.
// ---------------------------------------------------------------------------

/** The requests that store an object of `bytes`: one PutObject up to the part size, else a multipart upload. */
export function uploadOperations(bytes, partSize) {
  if (bytes <= partSize) return { PutObject: 1 };
  return { CreateMultipartUpload: 1, UploadPart: Math.ceil(bytes / partSize), CompleteMultipartUpload: 1 };
}

function addOps(target, ops, times = 1) {
  for (const [op, n] of Object.entries(ops)) target[op] = (target[op] ?? 0) + n * times;
  return target;
}

function byClass(ops) {
  const out = { A: 0, B: 0, free: 0 };
  for (const [op, n] of Object.entries(ops)) {
    const kind = OPERATION_CLASS[op];
    if (!kind) throw new Error(`no price class for S3 operation ${op}`);
    out[kind] += n;
  }
  return out;
}

/** S3's tiered egress price for `gb` in one month. */
export function s3EgressCost(gb, tiers = PRICES.s3.egressTiers) {
  let left = gb;
  let cost = 0;
  for (const [size, price] of tiers) {
    const used = Math.min(left, size);
    cost += used * price;
    left -= used;
    if (left <= 0) break;
  }
  return cost;
}

const over = (used, included) => Math.max(0, used - included);

/**
 * A cross-check of the linear scaling, from docs/deltas.md (`node bench/delta.js --size 1GiB --runs 3`): the
 * full object (gzip, 214.16 MiB) and what a pod moves by a format-2 delta (`publish --base`, pages as patches):
 * 0.234 MiB, where format 1 (changed pages whole) moved 3.835 MiB. The document gives MiB to three decimals.
 */
export const CROSS_CHECK_1GIB = { databaseBytes: 1_079_705_600, deltaBytes: Math.round(0.234 * 1024 * 1024), fullBytes: 224_458_071 };

/** One object-store scenario per day: requests by operation and class, egress bytes, and bytes stored. */
function storeDay(store, a, databaseBytes, deltas) {
  const scale = databaseBytes / store.database.bytes;
  const polls = (24 * 60) / a.pollMinutes;
  const { objects, partSize, keep } = store;

  // A pod: idle polls (304), and one update poll per update (the new manifest, then the delta or the whole object).
  const sync = deltas ? store.deltaSync : store.fullSync;
  const payload = deltas ? objects.podDelta : objects.full;
  const syncDown = sync.down - payload + payload * scale;
  const podOps = addOps(addOps({}, store.idlePoll.requests, polls - a.updatesPerDay), sync.requests, a.updatesPerDay);
  const podDown = (polls - a.updatesPerDay) * store.idlePoll.down + a.updatesPerDay * syncDown;

  // A publish: as measured, with the uploads of the object and the deltas recounted for their scaled sizes.
  const publish = deltas ? store.publish.deltas : store.publish.noDeltas;
  const publishOps = addOps({}, publish.requests);
  // Both formats are uploaded: format 1 for agents that read only it, format 2 (patches) for the others.
  const deltaObjects = deltas ? [...objects.deltas, ...(objects.patches ?? [])] : [];
  const measuredUploads = [objects.full, ...deltaObjects];
  for (const bytes of measuredUploads) addOps(publishOps, uploadOperations(bytes, partSize), -1);
  for (const bytes of measuredUploads) addOps(publishOps, uploadOperations(bytes * scale, partSize));
  if (Object.values(publishOps).some((n) => n < 0)) throw new Error('the measured publish has fewer uploads than its objects need');
  const bases = deltas ? objects.deltas.length : 0;
  const publishDown = publish.down - bases * objects.chunkList + bases * objects.chunkList * scale;

  const ops = addOps(addOps({}, podOps, a.pods), publishOps, a.updatesPerDay);
  const perSnapshot = objects.full + objects.chunkList + deltaObjects.reduce((s, d) => s + d, 0);
  return {
    scale,
    ops,
    classes: byClass(ops),
    egressBytes: a.pods * podDown + a.updatesPerDay * publishDown,
    podUpdateBytes: syncDown,
    publishOps,
    storedBytes: keep * perSnapshot * scale,
  };
}

function storeCosts(day, a, p) {
  const month = (n) => n * a.daysPerMonth;
  const egressGb = month(day.egressBytes) / a.gb;
  const storedGb = day.storedBytes / a.gb;
  const s3 = {
    month: 0,
    requests: (month(day.classes.B) * p.s3.getPer1000) / 1000 + (month(day.classes.A) * p.s3.putPer1000) / 1000,
    egress: s3EgressCost(egressGb, p.s3.egressTiers),
    storage: storedGb * p.s3.storageGbMonth,
  };
  const r2 = {
    month: 0,
    requests:
      (over(month(day.classes.A), p.r2.freeClassA) * p.r2.classAPerMillion) / 1e6 + (over(month(day.classes.B), p.r2.freeClassB) * p.r2.classBPerMillion) / 1e6,
    egress: 0,
    storage: over(storedGb, p.r2.freeStorageGbMonth) * p.r2.storageGbMonth,
  };
  for (const c of [s3, r2]) c.month = c.requests + c.egress + c.storage;
  return { s3, r2, egressGbMonth: egressGb, storedGb };
}

/** The board per day: Worker requests and CPU, Durable Object requests, rows and duration; cost per month. */
function boardModel(board, a, p) {
  const polls = (24 * 60) / a.pollMinutes;
  const heartbeats = a.pods * polls;
  const clusters = Math.ceil(a.pods / a.podsPerCluster);
  const n = board.heartbeats;
  const invocations = (counts) => Object.values(counts.invocations).reduce((s, v) => s + v, 0);
  const perHeartbeat = {
    doRequests: (invocations(board.cluster) + invocations(board.index)) / n,
    rowsRead: (board.cluster.rowsRead + board.index.rowsRead) / n,
    rowsWritten: (board.cluster.rowsWritten + board.cluster.setAlarm + board.index.rowsWritten + board.index.setAlarm) / n,
  };
  // Fleet-wide, from the design: the index's round (reads one summary per cluster, sets its alarm) and the cron trigger (one RPC).
  const day = {
    heartbeats,
    clusters,
    workerRequests: heartbeats + a.cronPerDay,
    workerCpuMs: heartbeats * a.workerCpuMsPerHeartbeat,
    doRequests: heartbeats * perHeartbeat.doRequests + a.indexRoundsPerDay + a.cronPerDay,
    rowsRead: heartbeats * perHeartbeat.rowsRead + a.indexRoundsPerDay * clusters,
    rowsWritten: heartbeats * perHeartbeat.rowsWritten + a.indexRoundsPerDay,
  };
  day.gbS = day.doRequests * (board.latencyMs.median / 1000) * p.durableObjects.gbPerObject;
  const m = (v) => v * a.daysPerMonth;
  const w = p.workers;
  const d = p.durableObjects;
  const cost = {
    workersBase: w.baseMonth,
    workerRequests: (over(m(day.workerRequests), w.includedRequests) * w.perMillionRequests) / 1e6,
    workerCpu: (over(m(day.workerCpuMs), w.includedCpuMs) * w.perMillionCpuMs) / 1e6,
    doRequests: (over(m(day.doRequests), d.includedRequests) * d.perMillionRequests) / 1e6,
    doDuration: (over(m(day.gbS), d.includedGbS) * d.perMillionGbS) / 1e6,
    rowsRead: (over(m(day.rowsRead), d.includedRowsRead) * d.perMillionRowsRead) / 1e6,
    rowsWritten: (over(m(day.rowsWritten), d.includedRowsWritten) * d.perMillionRowsWritten) / 1e6,
  };
  cost.month = Object.values(cost).reduce((s, v) => s + v, 0);
  return { perHeartbeat, day, cost };
}

/**
 * The whole model from the measured unit counts: per database size, with and
 * without deltas, the object store's requests, egress and storage per day and
 * their cost on S3 and R2 per month; and the board's. Pure.
 */
export function costModel(units, a = ASSUMPTIONS, p = PRICES) {
  const sizes = a.databaseSizes.map((bytes) => ({
    bytes,
    scenarios: [true, false].map((deltas) => {
      const day = storeDay(units.store, a, bytes, deltas);
      return { deltas, day, cost: storeCosts(day, a, p) };
    }),
  }));
  return { sizes, board: boardModel(units.board, a, p) };
}

// ---------------------------------------------------------------------------
// Rendering: docs/COST.md is a function of the unit counts, the assumptions and the prices.
// ---------------------------------------------------------------------------

function grouped(text) {
  const [whole, fraction] = text.split('.');
  const sign = whole.startsWith('-') ? '-' : '';
  const digits = whole.replace('-', '').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${digits}${fraction === undefined ? '' : `.${fraction}`}`;
}
const num = (n, digits = 0) => grouped(n.toFixed(digits));
const usd = (n) => `$${grouped(n.toFixed(2))}`;
const bytes = (b) => (b >= GIB ? `${num(b / GIB, 2)} GiB` : b >= MIB ? `${num(b / MIB, 2)} MiB` : b >= KIB ? `${num(b / KIB, 1)} KiB` : `${num(b)} B`);
const sizeName = (b) => (b >= GIB ? `${num(b / GIB)} GiB` : `${num(b / MIB)} MiB`);
const million = (n) => (n >= 1e6 ? `${num(n / 1e6, 2)} M` : num(n));
/** A whole number of millions or billions in words: 10 million, 25 billion. */
const inWords = (n) => (n >= 1e9 ? `${num(n / 1e9)} billion` : `${num(n / 1e6)} million`);
/** The operations that are billed (DELETE is free on S3 and R2). */
const billed = (ops) => Object.fromEntries(Object.entries(ops).filter(([op]) => OPERATION_CLASS[op] !== 'free'));
const opsText = (ops) =>
  Object.entries(ops)
    .filter(([, n]) => n !== 0)
    .map(([op, n]) => `${num(n)} ${op}`)
    .join(', ');

/** A Markdown table; `align` has one letter per column, `l` or `r` (default: the first left, the others right). */
function table(head, rows, align = `l${'r'.repeat(head.length - 1)}`) {
  const rule = head.map((_, i) => (align[i] === 'r' ? '---:' : '---'));
  return [`| ${head.join(' | ')} |`, `| ${rule.join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** The tables the model computes: what the test compares with docs/COST.md. */
export function renderTables(units, a = ASSUMPTIONS, p = PRICES) {
  const model = costModel(units, a, p);
  const b = model.board;
  const perDay = (month) => month / a.daysPerMonth;

  const summary = table(
    ['database', 'deltas', 'S3 + board, per day', 'S3 + board, per month', 'R2 + board, per day', 'R2 + board, per month'],
    model.sizes.flatMap((size) =>
      size.scenarios.map((s) => [
        sizeName(size.bytes),
        s.deltas ? 'yes' : 'no',
        usd(perDay(s.cost.s3.month + b.cost.month)),
        usd(s.cost.s3.month + b.cost.month),
        usd(perDay(s.cost.r2.month + b.cost.month)),
        usd(s.cost.r2.month + b.cost.month),
      ]),
    ),
    'llrrrr',
  );

  const storeUnits = table(
    [
      'database',
      'deltas',
      'Class B (GET, HEAD) per day',
      'Class A (PUT, LIST, multipart) per day',
      'egress per day',
      'egress per month',
      'a pod per update',
      'stored (one commit)',
    ],
    model.sizes.flatMap((size) =>
      size.scenarios.map((s) => [
        sizeName(size.bytes),
        s.deltas ? 'yes' : 'no',
        million(s.day.classes.B),
        num(s.day.classes.A),
        `${num(s.day.egressBytes / a.gb, 1)} GB`,
        `${num(s.cost.egressGbMonth, 0)} GB`,
        bytes(s.day.podUpdateBytes),
        `${num(s.cost.storedGb, 2)} GB`,
      ]),
    ),
    'llrrrrrr',
  );

  const storeCost = table(
    ['database', 'deltas', 'S3 requests', 'S3 egress', 'S3 storage', 'S3 per month', 'S3 per day', 'R2 requests', 'R2 storage', 'R2 per month', 'R2 per day'],
    model.sizes.flatMap((size) =>
      size.scenarios.map((s) => [
        sizeName(size.bytes),
        s.deltas ? 'yes' : 'no',
        usd(s.cost.s3.requests),
        usd(s.cost.s3.egress),
        usd(s.cost.s3.storage),
        usd(s.cost.s3.month),
        usd(perDay(s.cost.s3.month)),
        usd(s.cost.r2.requests),
        usd(s.cost.r2.storage),
        usd(s.cost.r2.month),
        usd(perDay(s.cost.r2.month)),
      ]),
    ),
    'llrrrrrrrrr',
  );

  const publishRows = model.sizes.flatMap((size) =>
    size.scenarios.map((s) => [sizeName(size.bytes), s.deltas ? 'yes' : 'no', opsText(billed(s.day.publishOps)), num(a.updatesPerDay)]),
  );
  const publishTable = table(['database', 'deltas', 'billed requests per publish (scaled)', 'publishes per day'], publishRows, 'lllr');

  const boardUnits = table(
    ['what', 'per heartbeat (measured)', 'per day'],
    [
      ['Worker requests (one heartbeat per request; plus the cron trigger)', '1', num(b.day.workerRequests)],
      [
        'Worker CPU (upper bound: `node worker/bench/board.js`, worker/README.md)',
        `${num(a.workerCpuMsPerHeartbeat, 2)} ms`,
        `${million(b.day.workerCpuMs)} ms`,
      ],
      [
        'Durable Object requests (ingest RPC, alarm rounds, summaries to the index; plus the index round and cron)',
        num(b.perHeartbeat.doRequests, 3),
        num(b.day.doRequests),
      ],
      ['SQLite rows read', num(b.perHeartbeat.rowsRead, 1), million(b.day.rowsRead)],
      ['SQLite rows written (setAlarm included)', num(b.perHeartbeat.rowsWritten, 2), million(b.day.rowsWritten)],
      ['Durable Object duration (128 MB × active time)', '', `${num(b.day.gbS)} GB-s`],
    ],
  );
  const boardCost = table(
    ['Workers Paid base', 'Worker requests', 'Worker CPU', 'DO requests', 'DO duration', 'rows read', 'rows written', 'per month', 'per day'],
    [
      [
        usd(b.cost.workersBase),
        usd(b.cost.workerRequests),
        usd(b.cost.workerCpu),
        usd(b.cost.doRequests),
        usd(b.cost.doDuration),
        usd(b.cost.rowsRead),
        usd(b.cost.rowsWritten),
        usd(b.cost.month),
        usd(perDay(b.cost.month)),
      ],
    ],
  );
  return { summary, storeUnits, storeCost, publishTable, boardUnits, boardCost };
}

function pricesTable(p) {
  const egress = p.s3.egressTiers
    .map(
      ([size, price], i) =>
        `${Number.isFinite(size) ? `${i === 0 ? 'first' : 'next'} ${num(size / 1024)} TB` : 'beyond'} $${price}/GB${Number.isFinite(size) ? '' : ' (above 500 TB by agreement with AWS; the model keeps this price)'}`,
    )
    .join(', ');
  return table(
    ['service', 'prices used', 'source'],
    [
      [
        p.s3.name,
        `GET/HEAD $${p.s3.getPer1000} per 1,000; PUT/POST/LIST $${p.s3.putPer1000} per 1,000; DELETE free; storage $${p.s3.storageGbMonth}/GB-month; egress to the internet per month: ${egress}`,
        p.s3.source,
      ],
      [
        p.r2.name,
        `Class A $${num(p.r2.classAPerMillion, 2)}/million, Class B $${p.r2.classBPerMillion}/million (free each month: ${inWords(p.r2.freeClassA)} A, ${inWords(p.r2.freeClassB)} B); storage $${p.r2.storageGbMonth}/GB-month beyond ${p.r2.freeStorageGbMonth} GB-month; egress free`,
        p.r2.source,
      ],
      [
        p.workers.name,
        `$${p.workers.baseMonth}/month with ${inWords(p.workers.includedRequests)} requests, then $${num(p.workers.perMillionRequests, 2)}/million; ${inWords(p.workers.includedCpuMs)} CPU-ms, then $${p.workers.perMillionCpuMs}/million CPU-ms`,
        p.workers.source,
      ],
      [
        p.durableObjects.name,
        `requests: ${inWords(p.durableObjects.includedRequests)} included, then $${p.durableObjects.perMillionRequests}/million; duration: ${num(p.durableObjects.includedGbS)} GB-s included, then $${num(p.durableObjects.perMillionGbS, 2)}/million GB-s (${p.durableObjects.gbPerObject * 1000} MB per active object); rows read: ${inWords(p.durableObjects.includedRowsRead)} included, then $${p.durableObjects.perMillionRowsRead}/million; rows written: ${inWords(p.durableObjects.includedRowsWritten)} included, then $${num(p.durableObjects.perMillionRowsWritten, 2)}/million`,
        p.durableObjects.source,
      ],
    ],
    'lll',
  );
}

function measuredTable(units) {
  const s = units.store;
  const c = units.board.cluster;
  const i = units.board.index;
  const inv = (counts) =>
    Object.entries(counts.invocations)
      .map(([k, v]) => `${num(v)} ${k}`)
      .join(', ');
  const row = (label, m, extra = '') => [label, opsText(m.requests), num(m.up), num(m.down), extra];
  return [
    table(
      ['one operation', 'requests', 'bytes up', 'bytes down', 'notes'],
      [
        row(
          'idle poll (manifest unchanged)',
          s.idlePoll,
          `answered ${s.idlePoll.status}, on ${num(s.idlePoll.connections)} new connection${s.idlePoll.connections === 1 ? '' : 's'}`,
        ),
        row(
          'delta sync (after the update)',
          s.deltaSync,
          `the delta is ${num(s.objects.podDelta)} bytes (format ${s.objects.podDeltaFormat ?? 1}${s.objects.podDeltaFormat === 2 ? ', pages as patches' : ''}; ${num(s.database.changedPages)} of ${num(s.database.pages)} pages)`,
        ),
        row('full sync (a new pod)', s.fullSync, `the object is ${num(s.objects.full)} bytes`),
        row(
          'publish with deltas (steady state)',
          s.publish.deltas,
          `the object, ${s.objects.deltas.length} format-1 deltas (${s.objects.deltas.map((d) => num(d)).join(', ')} bytes)${s.objects.patches ? ` and ${s.objects.patches.length} format-2 (${s.objects.patches.map((d) => num(d)).join(', ')} bytes; \`--base\` the previous snapshot's file)` : ''}, the chunk list (${num(s.objects.chunkList)} bytes), the manifest and latest.json; ${num(s.objects.deltas.length)} chunk lists read back; retention deleted the oldest snapshot's object (the commit's first, whose chunk list the history keeps, so a delta from it is written too)`,
        ),
        row('publish without deltas (--delta-max-share 0)', s.publish.noDeltas, 'the object, its chunk list, the manifest and latest.json'),
      ],
      'llrrl',
    ),
    '',
    table(
      ['board, one cluster of pods at their real heartbeat rate', 'measured'],
      [
        ['heartbeats (one per request)', num(units.board.heartbeats)],
        ['cluster object: invocations', inv(c)],
        ['cluster object: rows read / rows written / setAlarm', `${num(c.rowsRead)} / ${num(c.rowsWritten)} / ${num(c.setAlarm)}`],
        ['index object: invocations', inv(i)],
        ['index object: rows read / rows written / setAlarm', `${num(i.rowsRead)} / ${num(i.rowsWritten)} / ${num(i.setAlarm)}`],
        [
          'heartbeat request latency, median / p90 (client side, wrangler dev)',
          `${num(units.board.latencyMs.median, 1)} ms / ${num(units.board.latencyMs.p90, 1)} ms`,
        ],
      ],
      'll',
    ),
  ].join('\n');
}

/** Rows read and written per heartbeat by statement, in both objects, most written first. */
function statementsTable(units) {
  const n = units.board.heartbeats;
  const rows = [];
  for (const [object, counts] of [
    ['cluster', units.board.cluster],
    ['index', units.board.index],
  ]) {
    for (const [sql, st] of Object.entries(counts.statements)) rows.push({ object, sql, ...st });
    if (counts.setAlarm > 0)
      rows.push({ object, sql: 'setAlarm() (billed as one row written)', calls: counts.setAlarm, rowsRead: 0, rowsWritten: counts.setAlarm });
  }
  rows.sort((x, y) => y.rowsWritten - x.rowsWritten || y.rowsRead - x.rowsRead || (x.sql < y.sql ? -1 : 1));
  return table(
    ['object', 'statement', 'calls per heartbeat', 'rows read per heartbeat', 'rows written per heartbeat'],
    rows
      .filter((r) => r.rowsRead > 0 || r.rowsWritten > 0)
      .map((r) => [r.object, `\`${r.sql.replaceAll('|', '\\|')}\``, num(r.calls / n, 2), num(r.rowsRead / n, 2), num(r.rowsWritten / n, 2)]),
    'llrrr',
  );
}

function assumptionsTable(units, a) {
  return table(
    ['assumption', 'value'],
    [
      ['pods', num(a.pods)],
      ['poll interval (one manifest GET, one heartbeat per run)', `${a.pollMinutes} minutes: ${num((24 * 60) / a.pollMinutes)} runs a day per pod`],
      ['data updates (publishes)', `${a.updatesPerDay} a day, each rewriting ${num(units.store.database.rowsUpdatedShare * 100)}% of the rows in place`],
      ['database sizes', `${a.databaseSizes.map(sizeName).join(' and ')}; bytes scale linearly from the measured ${bytes(units.store.database.bytes)}`],
      [
        'pods per update',
        'every pod is one version behind when an update lands, so it takes the delta from the previous snapshot (or the whole object without deltas)',
      ],
      ['retention', `--keep ${units.store.keep} (the default): a publish writes one delta per kept earlier snapshot and stores ${units.store.keep} snapshots`],
      ['multipart uploads', `objects over ${bytes(units.store.partSize)} go up in parts of that size (recounted per modelled size)`],
      [
        'board',
        `${num(a.podsPerCluster)} pods per cluster (${num(Math.ceil(a.pods / a.podsPerCluster))} clusters); summaryEvery 5 s, evaluateEvery 1 minute (the defaults)`,
      ],
      [
        'board duration',
        'each Durable Object request keeps its object active for the measured median heartbeat latency; idle objects can hibernate (no timers or WebSockets) and are not billed',
      ],
      ['month', `${a.daysPerMonth} days; per day = per month ÷ ${a.daysPerMonth} (free allowances and egress tiers are monthly)`],
      ['GB', '2^30 bytes'],
    ],
    'll',
  );
}

/** docs/COST.md, entirely: prose, prices, measured units, assumptions, tables, and the units as JSON. */
export function renderDocument(units, a = ASSUMPTIONS, p = PRICES) {
  const t = renderTables(units, a, p);
  const model = costModel(units, a, p);
  const big = model.sizes[0];
  const [withDeltas, withoutDeltas] = big.scenarios;
  const alwaysOnGbS = (model.board.day.clusters + 1) * 86400 * p.durableObjects.gbPerObject;
  const alwaysOnMonth = (over(alwaysOnGbS * a.daysPerMonth, p.durableObjects.includedGbS) * p.durableObjects.perMillionGbS) / 1e6;
  const signatureInsert = Object.entries(units.board.cluster.statements).find(([sql]) => sql.startsWith('INSERT INTO signatures'));
  const signatureInsertRows = signatureInsert ? signatureInsert[1].rowsWritten / signatureInsert[1].calls : 0;
  const signatureRows = Object.entries(units.board.cluster.statements)
    .filter(([sql]) => /^(INSERT INTO|DELETE FROM) signatures/.test(sql))
    .reduce((sum, [, st]) => sum + st.rowsWritten, 0);
  const signatureShare = signatureRows / units.board.heartbeats / model.board.perHeartbeat.rowsWritten;
  const m = units.machine;
  return `<!-- Generated by scripts/cost-model.js (npm run cost); edit the script, not this file. test/cost-model.test.ts checks the tables against the units below. -->
# What running Sqlitening costs

A model of the bill for ${num(a.pods)} pods polling every ${a.pollMinutes} minutes with
${a.updatesPerDay} data updates a day, on AWS S3 or Cloudflare R2, with and without
page-level deltas, plus the freshness board on Cloudflare Workers and Durable
Objects. Every unit count in it (requests, bytes, rows, invocations) was
measured by \`scripts/cost-model.js\` on this repository's code; the fleet
figures multiply those counts by the assumptions below and the published
prices.

Regenerate everything (measurement included, about two minutes on 2 cores):

\`\`\`sh
npm run cost                            # builds, measures, writes this file
node scripts/cost-model.js --render     # only re-price: the units recorded at the end of this file, today's prices in the script
\`\`\`

## The answer

<!-- table:summary -->
${t.summary}

On S3 the bill is egress. Without deltas every pod downloads the whole
object at every update: for a ${sizeName(big.bytes)} database that is ${num(withoutDeltas.cost.egressGbMonth / 1024, 0)} TB a month
(${usd(withoutDeltas.cost.s3.egress)} of egress). Deltas cut it to ${num(withDeltas.cost.egressGbMonth / 1024, 1)} TB (${usd(withDeltas.cost.s3.egress)}): a pod
moves ${bytes(withDeltas.day.podUpdateBytes)} per update instead of ${bytes(withoutDeltas.day.podUpdateBytes)}. Requests cost about the same
everywhere: an idle poll is one GET answered 304, and the fleet makes
${num(withDeltas.day.classes.B / 1e6, 2)} million GETs a day (${usd(withDeltas.cost.s3.requests)} a month on S3, ${usd(withDeltas.cost.r2.requests)} on R2 after its
free ${inWords(p.r2.freeClassB)}).

On R2 egress is free, so deltas hardly change the store's bill (they save
the pods' time and bandwidth), and the board is most of the total:
${usd(model.board.cost.rowsWritten)} of its ${usd(model.board.cost.month)} a month is SQLite rows written by its Durable
Objects, ${num(model.board.perHeartbeat.rowsWritten, 2)} per heartbeat (${num((units.board.cluster.rowsWritten + units.board.cluster.setAlarm) / units.board.heartbeats, 2)} in the cluster's object, of which
${num(units.board.cluster.setAlarm / units.board.heartbeats, 2)} are \`setAlarm\` calls, and ${num((units.board.index.rowsWritten + units.board.index.setAlarm) / units.board.heartbeats, 2)} in the index), ${num(model.board.day.rowsWritten / 1e6, 1)} million a
day against ${inWords(p.durableObjects.includedRowsWritten)} included a month. The board costs the same in every
row.

## Prices

Kept in one table at the top of \`scripts/cost-model.js\`.

${pricesTable(p)}

## Measured unit counts

Measured ${units.measuredAt} on ${m.cpu} (\`lscpu | grep 'Model name'\`), ${m.cores} cores shared with other jobs,
Node.js ${m.node}, SQLite ${m.sqlite}, wrangler ${m.wrangler}.

- **Object store.** A content database of ${bytes(units.store.database.bytes)} (\`bench/lib.js\`
  \`contentDatabase\`; ${num(units.store.database.pages)} pages of ${num(units.store.database.pageSize)} bytes), published with
  the CLI (\`sqlitening publish --keep ${units.store.keep} --grace 0s\`, gzip) to s3rver through
  an HTTP proxy that counts each request by S3 operation and the bytes each
  way on the client's socket (request and status lines, headers, bodies; no
  TLS). Before each publish ${num(units.store.database.rowsUpdatedShare * 100)}% of the rows were updated in place (as
  \`bench/delta.js\` does); the publish measured is the ${units.store.keep + 1}th, when the
  manifest's history is full and retention deletes the oldest snapshot. Pods
  ran \`sqlitening sync\` against the bucket's public HTTP URL (the agent runs
  the same code every interval): the delta sync from the previous snapshot,
  a full sync into an empty folder, and then an idle poll.
- **Board.** One cluster of ${num(units.board.podsPerCluster)} pods in the board's own Durable Objects
  under \`wrangler dev\`, each pod sending one signed heartbeat per request as
  agents do, at the real per-cluster rate (one every ${num((a.pollMinutes * 60) / units.board.podsPerCluster, 0)} s), with those
  gaps and summaryEvery (5 s) both shortened ${num(units.board.timeScale)} times, so alarm rounds
  and summaries come as often per heartbeat as deployed. (evaluateEvery, 1
  minute, never fires while heartbeats come every few seconds: each round
  moves the alarm to the next summary.) Every pod had reported once before,
  signed 290 s in the past, so that those signatures expired as the
  measurement began and its rounds deleted one old signature per new one,
  as in steady state. The objects are subclasses
  (\`worker/bench/cost-harness.ts\`, never deployed) that count RPC calls and
  alarms, SQLite rows read and written (each cursor's \`rowsRead\` and
  \`rowsWritten\`, what Cloudflare bills) and \`setAlarm\` calls.

${measuredTable(units)}

Scaled linearly, this run gives per GiB of database a delta of ${bytes((units.store.objects.podDelta * GIB) / units.store.database.bytes)} and an object of
${bytes((units.store.objects.full * GIB) / units.store.database.bytes)}; \`node bench/delta.js --size 1GiB --runs 1\` measured ${bytes((CROSS_CHECK_1GIB.deltaBytes * GIB) / CROSS_CHECK_1GIB.databaseBytes)} and
${bytes((CROSS_CHECK_1GIB.fullBytes * GIB) / CROSS_CHECK_1GIB.databaseBytes)} per GiB on a database of ${bytes(CROSS_CHECK_1GIB.databaseBytes)} (docs/deltas.md, format 2 from
\`publish --base\`: 0.234 MiB where format 1 moved 3.835 MiB).${units.store.objects.podDeltaFormat === 2 ? '' : ' The delta measured above is format 1 (changed pages whole); agents that read format 2 move several times less.'}

## Assumptions

${assumptionsTable(units, a)}

## Object store, per day

<!-- table:store-units -->
${t.storeUnits}

Each publish (the CI side), scaled to the database size:

<!-- table:publish -->
${t.publishTable}

## Object store, cost

<!-- table:store-cost -->
${t.storeCost}

## Board

<!-- table:board-units -->
${t.boardUnits}

<!-- table:board-cost -->
${t.boardCost}

Where the rows go (measured, per heartbeat; statements cut at 80 characters):

${statementsTable(units)}

Duration is small because an idle object is not billed: none keeps a timer
or a WebSocket, so each can hibernate between requests. The upper bound, all
${num(model.board.day.clusters + 1)} objects active all day, would be ${num(alwaysOnGbS)} GB-s a day, ${usd(alwaysOnMonth)} a month.

${num(signatureShare * 100)}% of the rows written are replay protection: each heartbeat's
signature is inserted (${num(signatureInsertRows)} rows: the table and its two indexes) and deleted
once it can no longer pass the timestamp check.

## Not modelled

- **A CDN in front of the bucket.** The manifest is served
  \`Cache-Control: no-cache\`, so a CDN that honours it revalidates every
  poll with the bucket: the polls still reach the store, as conditional GETs.
  A CDN told to keep the manifest at its edge for a short time (an edge TTL
  of a minute, say, at the price of pods seeing an update up to that much
  later) would answer nearly all polls itself, and it would serve the
  immutable objects and deltas from its cache: requests and egress at the
  bucket would fall to about one per edge location per update. The CDN's
  own prices are not modelled.
- **Pods in the bucket's region.** Data transfer from S3 to EC2 in the same
  region is free; the S3 egress here is to the internet.
- **TLS and TCP overhead, and S3's own headers.** The bytes are HTTP bytes
  on plain HTTP from s3rver. A new TLS connection per poll (likely: a
  connection idle for 5 minutes is closed) adds the server's handshake,
  mostly its certificate chain (a few KiB), to each poll's egress; and S3
  answers with more headers than s3rver (request ids, \`Server\`), so its 304
  is a few hundred bytes rather than ${num(units.store.idlePoll.down)}. Each extra KiB per poll is
  ${num((a.pods * ((24 * 60) / a.pollMinutes) * KIB) / a.gb, 1)} GB a day.
- **New and restarted pods.** Each downloads the whole object once (a full
  sync above); the model has every pod already running.
- **Other commits.** Retention is per commit; each further commit
  \`sqlitening prune\` keeps (20 by default) holds up to ${units.store.keep} snapshots of its own.
- **Reads of the board** (people, badges, deploy tools): one Worker request
  each and one or two Durable Object requests; and webhook deliveries.
- **The AWS free tier** (100 GB of egress a month across the account) and
  **R2's billing-unit rounding** (usage is rounded up to the next million
  operations or GB-month).
- **Durable Object storage** (${num(a.podsPerCluster)} pod rows per cluster object, far below the 5 GB-month included)
  and Workers Logs.

## Units

The measured unit counts this document was computed from (\`--render\` reads them back):

<!-- units:start -->
\`\`\`json
${JSON.stringify(units, null, 2)}
\`\`\`
<!-- units:end -->
`;
}

/** The unit counts a rendered document records. */
export function readUnits(doc) {
  const match = /<!-- units:start -->\n```json\n([\s\S]*?)\n```\n<!-- units:end -->/.exec(doc);
  if (!match) throw new Error('docs/COST.md has no <!-- units:start --> … <!-- units:end --> block');
  return JSON.parse(match[1]);
}

/**
 * The generated tables of a document, by name (the lines after each `<!-- table:name -->` marker up to a blank line).
 * @param {string} doc
 * @returns {Record<string, string>}
 */
export function readTables(doc) {
  /** @type {Record<string, string>} */
  const tables = {};
  for (const match of doc.matchAll(/<!-- table:([a-z-]+) -->\n((?:\|.*\n)+)/g)) tables[match[1]] = match[2].trimEnd();
  return tables;
}

// ---------------------------------------------------------------------------
// Measurement: a separate step, run by `npm run cost` only.
// ---------------------------------------------------------------------------

const GIT_SHA = 'c057'.repeat(10);
const STORE_DATABASE_BYTES = 64 * MIB;
const KEEP = 5;
/** The part size of S3Store's multipart uploads (src/store/s3-store.ts). */
const PART_SIZE = 16 * MIB;
/** Board timers and heartbeat gaps are shortened this many times. */
const TIME_SCALE = 10;

/** The S3 operation a request is, from its method and URL (path-style: /bucket/key). */
export function operationOf(method, url) {
  const u = new URL(url, 'http://store');
  const q = u.searchParams;
  const segments = u.pathname.split('/').filter(Boolean);
  const onBucket = segments.length <= 1;
  switch (method) {
    case 'GET':
      return onBucket || q.has('list-type') ? 'ListObjectsV2' : 'GetObject';
    case 'HEAD':
      return onBucket ? 'HeadBucket' : 'HeadObject';
    case 'PUT':
      return q.has('partNumber') ? 'UploadPart' : 'PutObject';
    case 'POST':
      return q.has('uploads') ? 'CreateMultipartUpload' : q.has('uploadId') ? 'CompleteMultipartUpload' : `POST ${u.search}`;
    case 'DELETE':
      return q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    default:
      return method;
  }
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'expect', 'upgrade', 'proxy-connection'];

/**
 * An HTTP proxy in front of the store that records each request's S3
 * operation, status, and the bytes it moved each way on the client's socket
 * (exact: requests on a connection never overlap, so the socket's counters
 * between two responses are one request and its response).
 */
async function countingProxy(targetPort) {
  const http = await import('node:http');
  let records = [];
  let connections = 0;
  const upstreamAgent = new http.Agent({ keepAlive: true });
  const marks = new WeakMap();
  const server = http.createServer((req, res) => {
    const socket = req.socket;
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !HOP_BY_HOP.includes(name)));
    const upstream = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers, agent: upstreamAgent }, (answer) => {
      const back = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !HOP_BY_HOP.includes(name)));
      res.writeHead(answer.statusCode ?? 502, back);
      answer.pipe(res);
    });
    upstream.on('error', (error) => res.destroy(error));
    req.pipe(upstream);
    res.on('finish', () => {
      const mark = marks.get(socket) ?? { read: 0, written: 0 };
      records.push({
        operation: operationOf(req.method ?? 'GET', req.url ?? '/'),
        status: res.statusCode,
        up: socket.bytesRead - mark.read,
        down: socket.bytesWritten - mark.written,
      });
      marks.set(socket, { read: socket.bytesRead, written: socket.bytesWritten });
    });
  });
  server.on('connection', () => connections++);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** What was counted since the last take: requests by operation, bytes each way, statuses, new connections. */
    take() {
      const requests = {};
      for (const r of records) requests[r.operation] = (requests[r.operation] ?? 0) + 1;
      const taken = {
        requests,
        up: records.reduce((s, r) => s + r.up, 0),
        down: records.reduce((s, r) => s + r.down, 0),
        statuses: records.map((r) => `${r.operation} ${r.status}`),
        connections,
      };
      records = [];
      connections = 0;
      return taken;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        upstreamAgent.destroy();
        server.close(resolve);
      }),
  };
}

/** Updates 1% of the articles in place, different ones each revision (as bench/delta.js does). */
async function refresh(file, revision) {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(file);
  db.prepare("UPDATE articles SET title = title || ' (rev ' || ? || ')' WHERE id % 100 = ?").run(revision, revision % 100);
  db.close();
}

export async function measureStore(say) {
  const { copyFile, mkdir, mkdtemp, readFile: read, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { S3_ENV, contentDatabase, run, startS3Process } = await import('../bench/lib.js');
  const cli = path.join(root, 'bin', 'sqlitening.js');
  const env = { ...process.env, ...S3_ENV };
  const sqlitening = async (...args) => {
    const { stdout } = await run(process.execPath, [cli, '--json', ...args], { env });
    const events = stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
    return events.at(-1);
  };

  say(`preparing a ${STORE_DATABASE_BYTES / MIB} MiB content database (bench/lib.js, cached in bench/results)...`);
  const source = await contentDatabase(STORE_DATABASE_BYTES);
  const work = await mkdtemp(path.join(tmpdir(), 'sqlitening-cost-'));
  const s3 = await startS3Process(path.join(work, 's3'), ['cost']);
  const proxy = await countingProxy(Number(new URL(s3.endpoint).port));
  try {
    const build = path.join(work, 'build.db');
    await copyFile(source, build);
    const publish = (prefix, ...extra) =>
      sqlitening(
        'publish',
        build,
        '--store',
        `s3://cost/${prefix}`,
        '--endpoint',
        proxy.url,
        '--path-style',
        '--git-sha',
        GIT_SHA,
        '--no-check',
        '--keep',
        String(KEEP),
        '--grace',
        '0s',
        ...extra,
      );
    const podStore = `${proxy.url}/cost/deltas`;
    const sync = (pod) => sqlitening('sync', '--database', path.join(work, pod, 'site.db'), '--store', podStore, '--git-sha', GIT_SHA);
    await mkdir(path.join(work, 'pod'), { recursive: true });
    await mkdir(path.join(work, 'new-pod'), { recursive: true });

    const baseFile = path.join(work, 'base.db');
    let measured;
    let previous;
    for (let revision = 0; revision <= KEEP; revision++) {
      if (revision > 0) {
        // The publisher keeps the file it published last (as `build --keep-base` does), so deltas from it also come
        // as format 2 (pages as patches), which agents that read it take.
        await copyFile(build, baseFile);
        await refresh(build, revision);
        await new Promise((resolve) => setTimeout(resolve, 1100)); // a new second for the new snapshot's key
      }
      say(`publish ${revision + 1} of ${KEEP + 1}, with and without deltas${revision === KEEP ? ' (measured)' : ''}...`);
      proxy.take();
      const withDeltas = await publish('deltas', ...(revision > 0 ? ['--base', baseFile] : []));
      const withCounts = proxy.take();
      await publish('full', '--delta-max-share', '0');
      const withoutCounts = proxy.take();
      if (revision === KEEP - 1) {
        await sync('pod'); // the pod is one version behind when the measured publish lands
        proxy.take();
      }
      if (revision === KEEP) measured = { withDeltas, withCounts, withoutCounts, base: previous.sha256 };
      previous = withDeltas;
    }
    const { withDeltas, withCounts, withoutCounts, base } = measured;
    // From the KEEP - 1 recent snapshots, and from the commit's first, whose chunk list the history always keeps.
    if (withDeltas.deltas.length !== KEEP) throw new Error(`expected ${KEEP} deltas, the publish wrote ${withDeltas.deltas.length}`);
    if (withDeltas.pruned.length === 0) throw new Error('expected the measured publish to prune the oldest snapshot');

    say('pod: delta sync, full sync into an empty folder, idle poll...');
    const delta = await sync('pod');
    const deltaCounts = proxy.take();
    const state = JSON.parse(await read(path.join(work, 'pod', '.sqlitening', 'state.json'), 'utf8'));
    if (state.lastInstall?.method !== 'delta') throw new Error(`expected a delta install, got ${JSON.stringify(state.lastInstall)}`);
    const full = await sync('new-pod');
    const fullCounts = proxy.take();
    const idle = await sync('pod');
    const idleCounts = proxy.take();
    if (delta.status !== 'installed' || full.status !== 'installed' || idle.status !== 'not-modified') {
      throw new Error(`unexpected sync results: ${delta.status}, ${full.status}, ${idle.status}`);
    }
    const podDelta = [...withDeltas.patches, ...withDeltas.deltas].find((d) => d.base.sha256 === base);
    if (!podDelta || delta.bytesReceived !== podDelta.size)
      throw new Error(`expected the pod to receive the delta from ${base}, got ${delta.bytesReceived} bytes`);
    // The manifest, straight from the store (not through the proxy): page size and count.
    const manifest = await (await fetch(`${s3.endpoint}/cost/deltas/${GIT_SHA}/manifest.json`)).json();
    const strip = ({ statuses, ...counts }) => counts;
    return {
      database: {
        bytes: withDeltas.size,
        pageSize: manifest.chunks.size,
        pages: manifest.chunks.count,
        changedPages: withDeltas.deltas.find((d) => d.base.sha256 === base)?.pages ?? podDelta.pages,
        rowsUpdatedShare: 0.01,
      },
      keep: KEEP,
      partSize: PART_SIZE,
      objects: {
        full: withDeltas.encodedSize,
        chunkList: manifest.chunks.count * 32,
        /** Deltas from the previous snapshot, then older ones. */
        deltas: withDeltas.deltas.map((d) => d.size),
        /** Format-2 deltas (`--base`): pages as patches, from the bases whose files the publisher had. */
        patches: withDeltas.patches.map((d) => d.size),
        podDelta: podDelta.size,
        podDeltaFormat: podDelta.format ?? 1,
      },
      idlePoll: { ...strip(idleCounts), status: idle.status },
      deltaSync: strip(deltaCounts),
      fullSync: strip(fullCounts),
      publish: { deltas: strip(withCounts), noDeltas: strip(withoutCounts) },
    };
  } finally {
    await proxy.close();
    await s3.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Starts the board under wrangler dev with the counting harness. `seed()`
 * makes every pod report once, signed 290 s in the past, so that those
 * signatures expire (their timestamp plus the 5-minute window and a minute's
 * margin) before the measured heartbeats begin, and the rounds among them
 * delete one old signature per new one, as in steady state. `measure()`
 * sends each pod's next heartbeat at the real per-cluster rate, shortened
 * TIME_SCALE times with the board's timers, and returns what was counted.
 */
export async function startBoard(say) {
  const { mkdir } = await import('node:fs/promises');
  const { readFileSync } = await import('node:fs');
  const workerDir = path.join(root, 'worker');
  const { startWranglerDev } = await import('../worker/scripts/wrangler-dev.js');
  const { SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody } = await import('../packages/contract/lib/index.js');

  const cluster = 'cost-0';
  const secret = `${cluster}-secret-0123456789`;
  const pods = ASSUMPTIONS.podsPerCluster;
  // The board's own bindings and migrations with the counting harness as entry; no cron (the index's round is modelled, not measured).
  const wranglerConfig = JSON.parse(
    readFileSync(path.join(workerDir, 'wrangler.jsonc'), 'utf8')
      .split('\n')
      .filter((line) => !/^\s*\/\//.test(line))
      .join('\n'),
  );
  const configDir = path.join(workerDir, '.wrangler', 'cost');
  await mkdir(configDir, { recursive: true });
  const config = path.join(configDir, 'wrangler.json');
  await writeFile(
    config,
    JSON.stringify({
      ...wranglerConfig,
      $schema: undefined,
      main: path.relative(configDir, path.join(workerDir, 'bench', 'cost-harness.ts')),
      triggers: undefined,
    }),
  );
  say('starting the board under wrangler dev...');
  // summaryEvery shortened like the heartbeat gaps. evaluateEvery (1 minute) never fires while heartbeats come every few
  // seconds (each round moves the alarm to the next summary); set long, it keeps rounds from running before the measurement.
  const board = await startWranglerDev(
    {
      CLUSTER_SECRETS: JSON.stringify({ [cluster]: secret }),
      BOARD_CONFIG: JSON.stringify({ summaryEvery: `${5000 / TIME_SCALE}ms`, evaluateEvery: '1h' }),
    },
    { config },
  );
  const sha = 'a'.repeat(40);
  const heartbeat = (i) => {
    const now = new Date().toISOString();
    return {
      version: 1,
      cluster,
      pod: `web-${i}`,
      sentAt: now,
      appGitSha: sha,
      database: { gitSha: sha, sha256: 'c'.repeat(64), createdAt: now },
      lastRunAt: now,
      lastSuccessAt: now,
      lastError: null,
      lastInstall: { method: 'delta', bytes: 4_000_000, at: now },
      tasks: [{ name: 'database', ageSeconds: 3, limitSeconds: 600, ok: true }],
    };
  };
  const send = async (body, ageSeconds = 0) => {
    const text = JSON.stringify(body);
    const timestamp = Math.floor(Date.now() / 1000) - ageSeconds;
    const response = await fetch(`${board.url}/v1/heartbeats`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: await signBody(secret, timestamp, text) },
      body: text,
    });
    if (response.status !== 202) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
  };
  const counts = async () => {
    const response = await fetch(`${board.url}/__cost/counts/${cluster}`, { method: 'POST' });
    if (!response.ok) throw new Error(`counts answered ${response.status}: ${await response.text()}`);
    return response.json();
  };
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  const SEED_AGE_SECONDS = 290;
  let expiresAt = 0;
  return {
    async seed() {
      say(`board: every pod reports once, signed ${SEED_AGE_SECONDS} s ago...`);
      for (let i = 0; i < pods; i++) await send(heartbeat(i), SEED_AGE_SECONDS);
      // A signature is remembered until its timestamp is 6 minutes old (signatureExpiresAt in worker/src/ingest.ts).
      expiresAt = Date.now() + (360 - SEED_AGE_SECONDS + 2) * 1000;
    },
    async measure() {
      const wait = expiresAt - Date.now();
      if (wait > 0) say(`board: waiting ${Math.ceil(wait / 1000)} s for the seeded signatures to expire...`);
      await sleep(wait);
      await counts();
      const gap = (ASSUMPTIONS.pollMinutes * 60_000) / pods / TIME_SCALE;
      say(`board: ${pods} heartbeats, one per request, one every ${gap} ms (the real rate of a cluster of ${pods}, ${TIME_SCALE}x faster)...`);
      const latencies = [];
      const started = performance.now();
      for (let i = 0; i < pods; i++) {
        await sleep(started + i * gap - performance.now());
        const t = performance.now();
        await send(heartbeat(i));
        latencies.push(performance.now() - t);
      }
      await sleep(3 * gap); // the round a summary was deferred to runs within summaryEvery of the last heartbeat
      const measured = await counts();
      const sorted = [...latencies].sort((x, y) => x - y);
      return {
        podsPerCluster: pods,
        heartbeats: pods,
        timeScale: TIME_SCALE,
        cluster: measured.cluster,
        index: measured.index,
        latencyMs: { median: sorted[Math.floor(sorted.length / 2)], p90: sorted[Math.floor(sorted.length * 0.9)] },
      };
    },
    wranglerVersion: JSON.parse(readFileSync(path.join(workerDir, 'node_modules', 'wrangler', 'package.json'), 'utf8')).version,
    stop: () => board.stop(),
  };
}

async function machine(wrangler) {
  const { default: Database } = await import('better-sqlite3');
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /Model name:\s*(.+)/.exec(execFileSync('lscpu', { encoding: 'utf8' }))?.[1]?.trim() ?? cpu;
  } catch {
    // no lscpu
  }
  const db = new Database(':memory:');
  const sqlite = db.prepare('SELECT sqlite_version() AS v').get().v;
  db.close();
  return { cpu, cores: cpus().length, node: process.version.slice(1), sqlite, wrangler };
}

/** Measures every unit count the model needs. */
export async function measureUnits(say = (line) => process.stderr.write(`${line}\n`)) {
  const board = await startBoard(say);
  try {
    await board.seed();
    // The store is measured while the seeded signatures age.
    const store = await measureStore(say);
    const measured = await board.measure();
    return { measuredAt: new Date().toISOString().slice(0, 10), machine: await machine(board.wranglerVersion), store, board: measured };
  } finally {
    await board.stop();
  }
}

function printUnits(units) {
  const s = units.store;
  const line = (label, m) => `  ${label}: ${opsText(m.requests)}; ${num(m.up)} bytes up, ${num(m.down)} bytes down, ${m.connections} connection(s)`;
  console.log(`Measured on ${units.machine.cpu}, ${units.machine.cores} cores, Node.js ${units.machine.node}:`);
  console.log(`  database ${num(s.database.bytes)} bytes, object ${num(s.objects.full)}, delta ${num(s.objects.podDelta)} (${s.database.changedPages} pages)`);
  console.log(line(`idle poll (${s.idlePoll.status})`, s.idlePoll));
  console.log(line('delta sync', s.deltaSync));
  console.log(line('full sync', s.fullSync));
  console.log(line('publish with deltas', s.publish.deltas));
  console.log(line('publish without deltas', s.publish.noDeltas));
  const b = units.board;
  for (const [name, c] of [
    ['cluster object', b.cluster],
    ['index object', b.index],
  ]) {
    console.log(
      `  board ${name}, ${b.heartbeats} heartbeats: ${JSON.stringify(c.invocations)}, rows read ${c.rowsRead}, written ${c.rowsWritten}, setAlarm ${c.setAlarm}`,
    );
  }
  console.log(`  heartbeat latency median ${num(b.latencyMs.median, 1)} ms, p90 ${num(b.latencyMs.p90, 1)} ms`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.some((a) => a !== '--render')) {
    console.log(
      'Usage: node scripts/cost-model.js [--render]\n\nMeasures the unit counts and writes docs/COST.md; --render only re-renders it from the units it records.',
    );
    process.exit(args.includes('--help') ? 0 : 2);
  }
  const units = args.includes('--render') ? readUnits(await readFile(DOC, 'utf8')) : await measureUnits();
  if (!args.includes('--render')) printUnits(units);
  await writeFile(DOC, renderDocument(units));
  const t = renderTables(units);
  console.log(`\n${t.summary}\n\nwrote ${path.relative(process.cwd(), DOC)}`);
}
