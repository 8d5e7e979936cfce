import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
// s3rver ships no types; it is a real S3-protocol server (HTTP, XML, SigV4 parsing) on 127.0.0.1.
// @ts-expect-error no declaration file
import S3rver from 's3rver';

export interface S3TestServer {
  endpoint: string;
  /** Environment for child processes and the SDK's default credential chain. */
  env: Record<string, string>;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

/** Starts s3rver on an ephemeral port of 127.0.0.1 with the given buckets. */
export async function startS3Server(buckets: string[]): Promise<S3TestServer> {
  const directory = await mkdtemp(path.join(tmpdir(), 'sqlitening-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const address = (await server.run()) as { address: string; port: number };
  const endpoint = `http://127.0.0.1:${address.port}`;
  Object.assign(process.env, S3_CREDENTIALS);
  return {
    endpoint,
    env: { ...S3_CREDENTIALS },
    async createBucket(name) {
      const response = await fetch(`${endpoint}/${name}`, { method: 'PUT' });
      if (!response.ok) throw new Error(`create bucket ${name}: HTTP ${response.status}`);
    },
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
