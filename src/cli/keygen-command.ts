import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { UsageError } from '../errors.js';
import { generateSigningKeyPair } from '../signing/keys.js';
import type { Reporter } from './reporter.js';

export function keygenCommand(reporter: () => Reporter): Command {
  return new Command('keygen')
    .description('Make an Ed25519 key pair for signing manifests: PREFIX.key (private, for publish) and PREFIX.pub (public, for agents).')
    .argument('<prefix>', 'path and name of the two files, e.g. keys/snapshots-2026')
    .action(async (prefix: string) => {
      const { privateKeyPem, publicKeyPem, keyId } = generateSigningKeyPair();
      const key = path.resolve(`${prefix}.key`);
      const pub = path.resolve(`${prefix}.pub`);
      // 'wx': never overwrite a key; the private key is readable by its owner only.
      try {
        await writeFile(key, privateKeyPem, { flag: 'wx', mode: 0o600 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${key} exists; choose another prefix (keys are never overwritten)`);
        throw error;
      }
      await writeFile(pub, publicKeyPem, { flag: 'wx' });
      reporter().result(
        { command: 'keygen', keyId, privateKey: key, publicKey: pub },
        `Key ${keyId}: ${key} (private: give it to publish, e.g. as the secret SQLITENING_SIGNING_KEY) and ${pub} (public: give it to agents as --trust-key)`,
      );
    });
}
