import { deflatePatch, encodePatchRecord, MAX_DICTIONARY_PAGES } from '../wire/delta-format.js';

/*
 * The format-2 encoder's choices (the format itself is in wire/delta-format.ts): which pages each
 * changed page is deflated against. Measured on consecutive releases of a real data set loaded row by row
 * (bench/real-data.js) and on the synthetic 1% update (bench/delta.js):
 *
 * - Its own base page alone as the dictionary (the pod holds it) made the deltas 0.21-0.32x the gzip of the
 *   changed pages. Pages the update moved rows into (a split leaf, a page past the base's end) share little
 *   with their own base page: their rows come from another page.
 * - Adding up to three more pages the pod holds, picked by shared 16-byte strings, made them 0.17-0.24x on
 *   the real data. More pages gained nothing there, and each named page costs 4 bytes, so the encoder also
 *   tries the own page alone and keeps the smaller (on the synthetic update, where edits stay in place,
 *   the own page alone almost always wins).
 * - Level 9 over 6: 4% smaller, for the same time (a page is small and the dictionary matches are long).
 *
 * Pages are visited in falling order, as the format applies them: a base page below the current one is
 * still the base's, a changed page above it already the target's (see delta-format.ts).
 */

/** Where the encoder reads pages: both files are read page by page, never whole. */
export interface PatchSource {
  pageSize: number;
  /** Pages the base has; a page at or past it has no base version. */
  basePageCount: number;
  /** The pod's copy of page `index` (proven against the base's chunk list by the caller). */
  basePage(index: number): Buffer;
  /** The new file's page `index`. */
  targetPage(index: number): Buffer;
}

/** Sampled strings per page: about 1 in 16 positions, chosen by content so that a moved string is sampled again. */
const WINDOW = 16;
const TABLE_BITS = 20;
const TABLE_MASK = (1 << TABLE_BITS) - 1;
/** Named pages beside the own page: more gained nothing on real data (see above). */
const MAX_EXTRA_PAGES = 3;
/** A page counts as sharing rows only when at least this many sampled strings agree. */
const MIN_VOTES = 2;

/** Content-defined samples of a page: the rolling hash of each 16-byte window whose low 4 bits are zero. */
function sample(page: Buffer, out: number[]): number[] {
  out.length = 0;
  const base = 257;
  let outgoing = 1;
  for (let k = 0; k < WINDOW - 1; k++) outgoing = Math.imul(outgoing, base);
  let hash = 0;
  for (let k = 0; k < page.length; k++) {
    if (k >= WINDOW) hash = (hash - Math.imul(page[k - WINDOW]!, outgoing)) | 0;
    hash = (Math.imul(hash, base) + page[k]!) | 0;
    if (k >= WINDOW - 1 && (hash & 15) === 0) out.push(hash >>> 4);
  }
  return out;
}

/**
 * The records of a format-2 delta for `changed` (rising page numbers), in the order the format wants them
 * (falling). Memory stays bounded whatever the delta's size: one lossy table of 4 MiB (a string's newest
 * page wins) and the few pages of the record at hand.
 */
export function* patchRecords(changed: readonly number[], source: PatchSource): Generator<Buffer> {
  const { pageSize, basePageCount } = source;
  const maxPages = Math.max(1, Math.min(MAX_DICTIONARY_PAGES, Math.floor(32_768 / pageSize), MAX_EXTRA_PAGES + 1));
  // Entries: page * 2, + 1 for the target's version. Base versions of the changed pages go in first;
  // the target's version of each page goes in once it is written.
  const table = new Int32Array(1 << TABLE_BITS).fill(-1);
  const keys: number[] = [];
  for (const page of changed) {
    if (page >= basePageCount) break;
    for (const key of sample(source.basePage(page), keys)) table[key & TABLE_MASK] = page * 2;
  }
  const votes = new Map<number, number>();
  for (let n = changed.length - 1; n >= 0; n--) {
    const index = changed[n]!;
    const page = source.targetPage(index);
    votes.clear();
    for (const key of sample(page, keys)) {
      const entry = table[key & TABLE_MASK]!;
      if (entry < 0) continue;
      const other = entry >> 1;
      // Only what the file holds when this record is applied: base pages below it, target pages above it.
      const usable = entry & 1 ? other > index : other < index;
      if (usable) votes.set(entry, (votes.get(entry) ?? 0) + 1);
    }
    const own = index < basePageCount;
    // Likeliest last, next to the own page (last of all): deflate's nearest matches cost the fewest bits.
    const extra = [...votes]
      .filter(([, count]) => count >= MIN_VOTES)
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, maxPages - (own ? 1 : 0))
      .map(([entry]) => entry)
      .reverse();
    const bytesOf = (entry: number): Buffer => (entry & 1 ? source.targetPage(entry >> 1) : source.basePage(entry >> 1));
    const ownBytes = own ? source.basePage(index) : undefined;
    const dictionaries: Array<{ pages: number[]; bytes: Buffer | undefined }> = [];
    if (extra.length > 0) {
      dictionaries.push({
        pages: [...extra.map((entry) => entry >> 1), ...(own ? [index] : [])],
        bytes: Buffer.concat([...extra.map(bytesOf), ...(ownBytes ? [ownBytes] : [])]),
      });
    }
    if (ownBytes) dictionaries.push({ pages: [index], bytes: ownBytes });
    if (dictionaries.length === 0) dictionaries.push({ pages: [], bytes: undefined });
    let best: { pages: number[]; patch: Buffer } | undefined;
    for (const dictionary of dictionaries) {
      const patch = deflatePatch(page, dictionary.bytes);
      if (!best || patch.length + 4 * dictionary.pages.length < best.patch.length + 4 * best.pages.length) best = { pages: dictionary.pages, patch };
    }
    yield encodePatchRecord(index, best!.pages, best!.patch);
    for (const key of sample(page, keys)) table[key & TABLE_MASK] = index * 2 + 1;
  }
}
