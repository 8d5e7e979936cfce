/*
 * The snapshot contract shared by the Action, the agent and the board:
 * manifest, heartbeat and live-commits schemas, store key layout, request
 * signing, names and limits, the error base classes, and the small helpers
 * all three need.
 * Runtime-neutral on purpose (no `node:` imports): the board runs it in workerd.
 */
export * from './commits.js';
export * from './bounded-text.js';
export * from './duration.js';
export * from './envelope.js';
export * from './errors.js';
export * from './format.js';
export * from './git-sha.js';
export * from './heartbeat.js';
export * from './hex.js';
export * from './html.js';
export * from './keys.js';
export * from './manifest.js';
export * from './names.js';
export * from './signature.js';
export * from './validation.js';
