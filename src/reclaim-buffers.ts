/*
 * Every socket or file read hands over a fresh buffer (64 KiB to 1 MiB) that
 * lives outside the JavaScript heap. V8 frees such a buffer only when a
 * collection finds its small handle dead, and it starts a collection for
 * outside memory only past 64 MiB of it: a GiB streamed through a pipeline
 * keeps tens of MiB of dead read buffers resident. A young-generation
 * collection every few MiB costs well under a millisecond and frees them
 * (measured, 1 GiB over HTTP on 127.0.0.1: peak RSS 94 MiB without, 60 MiB
 * with one every 2 MiB; a whole sync of 1 GiB, 130 → 93 MiB raw, 121 → 95 MiB
 * gzip with one per 256 KiB received).
 *
 * Driving the collector is the host's call, not a library's: transfers call
 * `reclaimReadBuffers`, which does nothing until the host installs a reclaimer
 * for its own process (the CLI does, in bin/; an app that embeds the agent
 * may, say with `() => gc({ type: 'minor' })` under `node --expose-gc`).
 *
 * The same holds once a run is over: a snapshot moved or read whole leaves
 * its buffers and a grown heap behind, and an agent at rest allocates too
 * little for V8 to collect them for minutes. `reclaimAtRest` is called when
 * such a run ends; the CLI answers with a full collection, which lets the
 * heap shrink back before the agent waits for its next poll.
 */

let reclaim: (() => void) | null = null;
let reclaimRest: (() => void) | null = null;

/** Installs what a transfer calls every MiB or so to free consumed read buffers; null: nothing (the default). */
export function setReadBufferReclaimer(reclaimer: (() => void) | null): void {
  reclaim = reclaimer;
}

/** Frees the buffers of reads already consumed, if the host installed a reclaimer. */
export function reclaimReadBuffers(): void {
  reclaim?.();
}

/** Installs what a run calls when it ends after moving or reading a whole snapshot; null: nothing (the default). */
export function setRestReclaimer(reclaimer: (() => void) | null): void {
  reclaimRest = reclaimer;
}

/** Frees what a finished transfer left behind, if the host installed a reclaimer. */
export function reclaimAtRest(): void {
  reclaimRest?.();
}
