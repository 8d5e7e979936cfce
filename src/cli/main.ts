import { redactText } from '../redact.js';
import { Command, CommanderError } from 'commander';
import { describeError } from '../describe-error.js';
import { EXIT, EXIT_CODES } from '../reasons.js';
import { VERSION } from '../version.js';
import { Reporter } from './reporter.js';

type MakeCommand = (reporter: () => Reporter) => Command;

/**
 * Each command's module, loaded only when that command runs (all of them for the help that lists them):
 * a pod's `sync` or `agent` then loads no builder, loader or publisher (about 60 ms of every start, and
 * 4 MiB). In the order the help lists them.
 */
const COMMANDS: Record<string, () => Promise<MakeCommand>> = {
  build: async () => (await import('./build-command.js')).buildCommand,
  load: async () => (await import('./load-command.js')).loadCommand,
  publish: async () => (await import('./publish-command.js')).publishCommand,
  prune: async () => (await import('./prune-command.js')).pruneCommand,
  keygen: async () => (await import('./keygen-command.js')).keygenCommand,
  sync: async () => (await import('./sync-command.js')).syncCommand,
  agent: async () => (await import('./agent-command.js')).agentCommand,
  pull: async () => (await import('./pull-command.js')).pullCommand,
  wait: async () => (await import('./wait-command.js')).waitCommand,
  touch: async () => (await import('./touch-command.js')).touchCommand,
};

const EXIT_CODES_HELP = `\nExit codes:\n${EXIT_CODES.map((e) => `  ${e.code}  ${e.meaning}`).join('\n')}`;

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let reporter: Reporter | undefined;
  const getReporter = (): Reporter => (reporter ??= new Reporter(program.opts<{ json?: boolean }>().json === true));
  const program = new Command('sqlitening')
    .description('Build, publish and sync verified SQLite snapshots for read-mostly sites.')
    .version(VERSION)
    .option('--json', 'print JSON lines (one object per event) on stdout instead of human output')
    .addHelpText('after', EXIT_CODES_HELP)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // Commander's own errors are reported below, once, in our format.
      outputError: () => {},
    });
  // The command is the first word that is not an option (the only global options take no value).
  const named = argv.find((arg) => !arg.startsWith('-'));
  const wanted = named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS);
  for (const name of wanted) {
    const command = (await COMMANDS[name]!())(getReporter);
    command
      .addHelpText('after', EXIT_CODES_HELP)
      .exitOverride()
      .configureOutput({ outputError: () => {} });
    program.addCommand(command);
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code)) return EXIT.ok;
      getReporter().error('usage', redactText(error.message.replace(/^error: /, '')), false);
      return EXIT.usage;
    }
    const described = describeError(error);
    getReporter().error(described.code, described.message, described.retryable);
    // A bug shows its stack, so that a report of it can say where.
    if (described.kind === 'bug' && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return described.exitCode;
  }
}
