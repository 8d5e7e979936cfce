import { Command, Option } from 'commander';
import { agentPaths } from '../agent/paths.js';
import { touchTask } from '../agent/tasks.js';
import type { Reporter } from './reporter.js';

export function touchCommand(reporter: () => Reporter): Command {
  return new Command('touch')
    .description("Record a task's success now (its marker's mtime), so the agent's health checks include it.")
    .argument('<name>', 'task name, e.g. translations')
    .addOption(new Option('--database <file>', 'the live database the agent manages').env('SQLITENING_DATABASE').makeOptionMandatory())
    .action(async (name: string, flags: { database: string }) => {
      const paths = agentPaths(flags.database);
      await touchTask(paths.tasks, name);
      reporter().result({ command: 'touch', task: name, folder: paths.tasks }, `Recorded ${name} as succeeded now`);
    });
}
