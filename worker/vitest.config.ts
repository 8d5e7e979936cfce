import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { createServer } from 'node:net';
import { defineConfig } from 'vitest/config';

/** A free port on 127.0.0.1 for the webhook receiver (test/receiver.ts), known before workerd starts so bindings can name it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const port = await freePort();
process.env.RECEIVER_PORT = String(port);
const receiver = `http://127.0.0.1:${port}`;

/** The root every cluster's key is derived from (cluster-key.js); the tests derive keys from it as the operator's script does. */
export const TEST_ROOT_KEY = 'test-root-key-0123456789abcdef0123456789abcdef';
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';

/** Per-cluster secrets as deployments had them before derived keys: still accepted beside them while a deployment moves. */
export const TEST_SECRETS = {
  'eu-west': 'eu-west-secret-0123456789',
  'us-east': 'us-east-secret-0123456789',
  'ap-south': 'ap-south-secret-0123456789',
  // Mid-rotation: both are accepted.
  rotating: ['rotating-old-secret-0123', 'rotating-new-secret-0123'],
  // Small limits (clusterLimits below), to show one cluster held back while the others go on.
  noisy: 'noisy-secret-0123456789ab',
  // Moving to derived keys: its secret is still accepted, and its revocation refuses it too.
  'legacy-revoked': 'legacy-revoked-secret-0123',
};

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: './wrangler.jsonc' },
      miniflare: {
        bindings: {
          BOARD_CONFIG: JSON.stringify({
            expectedClusters: ['ap-south'],
            podTtl: '1h',
            rules: { maxSyncAge: '15m', staleShare: 0.5, silentAfter: '10m', skewAfter: '15m' },
            reminderEvery: '1h',
            retryBase: '0s',
            maxAttempts: 4,
            clusterLimits: { noisy: { podsPerCluster: 10, heartbeatsPerMinute: 30 } },
            // Every accepted batch updates the index at once, so a test reads what it just sent.
            summaryEvery: '0s',
          }),
          CLUSTER_SECRETS: JSON.stringify(TEST_SECRETS),
          CLUSTER_ROOT_KEY: TEST_ROOT_KEY,
          ADMIN_TOKEN: TEST_ADMIN_TOKEN,
          WEBHOOKS: JSON.stringify([
            { url: `${receiver}/fail-2/json`, kind: 'json' },
            { url: `${receiver}/slack`, kind: 'slack' },
          ]),
          WEBHOOK_SECRET: 'webhook-signing-secret',
          DEAD_MAN_URL: `${receiver}/deadman`,
          READ_TOKEN: '',
          RECEIVER_URL: receiver,
        },
      },
    }),
  ],
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/receiver.ts'],
  },
});
