import { Command } from 'commander';
import { Agent } from '../agent/agent.js';
import type { Reporter } from './reporter.js';
import { addSyncOptions, agentOptions, type SyncFlags } from './sync-options.js';

export function syncCommand(reporter: () => Reporter): Command {
  const command = addSyncOptions(
    new Command('sync').description(
      "Fetch the newest snapshot of the app's commit once: verify it and swap it in atomically. Exit 0 when the database is current.",
    ),
  );
  command.action(async (flags: SyncFlags) => {
    const out = reporter();
    const agent = await Agent.open({ ...(await agentOptions(flags, out)), metrics: false });
    try {
      const result = await agent.runOnce();
      if (!result.ok) throw result.error;
      const m = result.outcome.manifest;
      out.result(
        { command: 'sync', status: result.outcome.status, sha256: m?.database.sha256 ?? null, bytesReceived: result.outcome.bytesReceived },
        `${result.outcome.status}: ${agent.paths.database}${m ? ` (sha256 ${m.database.sha256.slice(0, 16)}…, built ${m.createdAt})` : ''}`,
      );
    } finally {
      await agent.stop();
    }
  });
  return command;
}
