/*
 * The snapshot contract shared by the action, the agent and the board:
 * manifest schema, store key layout, heartbeat schema and request signing.
 * Runtime-neutral on purpose (no `node:` imports): the board imports it in workerd.
 */
export * from './git-sha.js';
export * from './heartbeat.js';
export * from './keys.js';
export * from './manifest.js';
export * from './signature.js';
export * from './validation.js';
