#!/usr/bin/env node
/** The `ringmaster` command. Parses arguments, calls the command, prints; nothing else. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { trainCommand } from './commands/train.js';
import { EXIT, reportError } from './output.js';

async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  await yargs(argv)
    .scriptName('ringmaster')
    .usage('$0 <command> [options]')
    .command(
      'train <spec>',
      'train a job in this process tree, on this machine, without a cluster',
      (y) =>
        y
          .positional('spec', { type: 'string', demandOption: true, describe: 'job spec (YAML)' })
          .option('set', { type: 'string', array: true, default: [], describe: 'override a spec key: --set optimizer.lr=3e-4' })
          .option('threads', { type: 'number', describe: 'compute threads (default: every core); same as --set threads=N' })
          .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary of the run as the last line' }),
      async (args) => {
        exitCode = await trainCommand({ spec: args.spec, set: args.set, threads: args.threads, json: args.json });
      },
    )
    .demandCommand(1, 'name a command (ringmaster --help lists them)')
    .strict()
    .help()
    .version(false)
    .fail((message, error) => {
      if (error) throw error;
      throw new UsageError(message);
    })
    .parseAsync();
  return exitCode;
}

class UsageError extends Error {}

main(hideBin(process.argv)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`ringmaster: ${e.message} (ringmaster --help shows the usage)\n`);
      process.exitCode = EXIT.usage;
      return;
    }
    process.exitCode = reportError(e);
  },
);
