import { Command, CommanderError } from 'commander';
import { EXIT, EXIT_CODES, describeError } from '../describe-error.js';
import { VERSION } from '../version.js';
import { agentCommand, pullCommand, syncCommand, touchCommand } from './agent-commands.js';
import { buildCommand } from './build-command.js';
import { loadCommand } from './load-command.js';
import { keygenCommand, pruneCommand, publishCommand } from './publish-command.js';
import { Reporter } from './reporter.js';
import { waitCommand } from './wait-command.js';

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
  for (const command of [
    buildCommand,
    loadCommand,
    publishCommand,
    pruneCommand,
    keygenCommand,
    syncCommand,
    agentCommand,
    pullCommand,
    waitCommand,
    touchCommand,
  ].map((make) => make(getReporter))) {
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
      getReporter().error('usage', error.message.replace(/^error: /, ''), false);
      return EXIT.usage;
    }
    const described = describeError(error);
    getReporter().error(described.code, described.message, described.retryable);
    // A bug shows its stack, so that a report of it can say where.
    if (described.kind === 'bug' && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return described.exitCode;
  }
}
