import { defineConfig } from 'vitest/config';

/** End-to-end tests in Node: the worker under `wrangler dev`, driven by a real browser. */
export default defineConfig({
  test: {
    include: ['e2e/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
