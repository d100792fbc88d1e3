#!/usr/bin/env node
/** The `ringmaster` command. Parses arguments, calls the command, prints; nothing else. */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { jobJsonSchema } from '../jobs/json-schema.js';
import { coordinatorAddress, useConnectionFlags } from './client.js';
import { checkpointsCommand, resumeCommand } from './commands/checkpoints.js';
import { coordinatorCommand, upCommand, workerCommand } from './commands/cluster.js';
import { cancelCommand, jobsCommand, logsCommand, statusCommand, submitCommand, workersCommand, drainCommand } from './commands/jobs.js';
import { prepareTextCommand } from './commands/prepare-text.js';
import { profileCommand } from './commands/profile.js';
import { sampleCommand } from './commands/sample.js';
import { trainCommand } from './commands/train.js';
import { EXIT, reportError } from './output.js';
import { COORDINATOR_ENV, DEFAULT_COORDINATOR } from '../proto/load.js';
import { TOKEN_ENV, TOKEN_FILE_NAME } from '../common/token.js';
import { TLS_ENV } from '../proto/transport.js';

const HTTP_PORT = 'serve Prometheus metrics at /metrics and the web dashboard at / on this port too, behind the same token (0: any free port)';
import { PRIORITY_RANGE } from '../jobs/load.js';

class UsageError extends Error {}

const withCoordinator = <T>(y: Argv<T>) =>
  y.option('coordinator', { type: 'string', describe: `coordinator host:port (default: $${COORDINATOR_ENV} or ${DEFAULT_COORDINATOR})` })
    .option('token-file', { type: 'string', describe: `the coordinator's token (its <state-dir>/${TOKEN_FILE_NAME}; default: $${TOKEN_ENV}, else .ringmaster/${TOKEN_FILE_NAME} here)` })
    .option('tls-ca', { type: 'string', describe: `TLS: the CA that signed the coordinator's certificate (default: $${TLS_ENV.ca}; none: plain TCP)` })
    .option('tls-cert', { type: 'string', describe: `mutual TLS: this client's certificate (default: $${TLS_ENV.cert})` })
    .option('tls-key', { type: 'string', describe: `mutual TLS: this client's key (default: $${TLS_ENV.key})` });
const withJson = <T>(y: Argv<T>) => y.option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' });
const withSet = <T>(y: Argv<T>) =>
  y.option('set', { type: 'string', array: true, default: [] as string[], describe: 'override a spec key: --set optimizer.lr=3e-4' });
const withState = <T>(y: Argv<T>) =>
  y.option('port', { type: 'number', default: 7470, describe: 'port to listen on (0: any free port)' })
    .option('state-dir', { type: 'string', default: '.ringmaster', describe: 'where the coordinator keeps its database and job logs' });

async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const run = (p: Promise<number>) => p.then((code) => void (exitCode = code));
  await yargs(argv)
    .scriptName('ringmaster')
    .usage('$0 <command> [options]')
    .command('train <spec>', 'train a job here, in one rank process, without a cluster',
      (y) => withSet(y.positional('spec', { type: 'string', demandOption: true, describe: 'job spec (YAML)' }))
        .option('threads', { type: 'number', describe: 'compute threads (default: every core); same as --set threads=N' })
        .option('resume', { type: 'string', describe: 'start from a checkpoint: a run\'s checkpoint directory (its newest valid one) or one step-NNNNNNNN directory' })
        .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary of the run as the last line' }),
      (a) => run(trainCommand({ spec: a.spec, set: a.set, threads: a.threads, resume: a.resume, json: a.json })))
    .command('sample <source>', 'print text a trained language model writes, from a checkpoint directory or a job\'s newest checkpoint',
      (y) => withCoordinator(y.positional('source', { type: 'string', demandOption: true, describe: 'checkpoint directory, or job id' }))
        .option('prompt', { type: 'string', default: '\n', describe: 'text to continue' })
        .option('tokens', { type: 'number', default: 500, describe: 'tokens to generate' })
        .option('temperature', { type: 'number', default: 0.8, describe: 'softmax temperature; 0 picks the likeliest token' })
        .option('top-k', { type: 'number', default: 200, describe: 'draw from the k likeliest tokens; 0 keeps all' })
        .option('seed', { type: 'number', default: 1337, describe: 'seed of the sampling RNG' })
        .option('threads', { type: 'number', default: 1, describe: 'compute threads' }),
      (a) => run(sampleCommand({ source: a.source, address: coordinatorAddress(a.coordinator), prompt: a.prompt, tokens: a.tokens, temperature: a.temperature, topK: a['top-k'], seed: a.seed, threads: a.threads })))
    .command('profile <spec>', 'time a job\'s training steps here, module by module (the table torch.profiler is read for)',
      (y) => withJson(withSet(y.positional('spec', { type: 'string', demandOption: true, describe: 'job spec (YAML)' })))
        .option('steps', { type: 'number', default: 10, describe: 'steps to profile, after 3 not counted' })
        .option('threads', { type: 'number', describe: 'compute threads (default: every core)' }),
      (a) => run(profileCommand({ spec: a.spec, set: a.set, steps: a.steps, threads: a.threads, json: a.json })))
    .command('prepare-text <corpus>', 'tokenize a UTF-8 corpus once into a token file a job\'s data.path can name (ranks map it)',
      (y) => y.positional('corpus', { type: 'string', demandOption: true, describe: 'UTF-8 text file' })
        .option('tokenizer', { type: 'string', default: 'char', describe: 'char or gpt2' })
        .option('out', { type: 'string', describe: 'the token file (default: <corpus>.<tokenizer>.tokens)' }),
      (a) => run(prepareTextCommand({ corpus: a.corpus, tokenizer: a.tokenizer, out: a.out })))
    .command('schema', 'print the job spec\'s JSON Schema, for editors (yaml-language-server: $schema=<file>)', (y) => y,
      () => {
        process.stdout.write(`${JSON.stringify(jobJsonSchema(), null, 2)}\n`);
      })
    .command('up', 'start a coordinator and a local worker (Ctrl-C stops both)',
      (y) => withSet(withState(y))
        .option('slots', { type: 'string', default: 'auto', describe: 'the local worker\'s slots: cpu:N, cuda:N, or auto (a cuda slot per GPU, else cpu slots for half the cores)' })
        .option('submit', { type: 'string', describe: 'run this job spec on the new cluster, then stop it and exit with the job\'s outcome' })
        .option('http-port', { type: 'number', describe: HTTP_PORT })
        .option('data-root', { type: 'string', array: true, describe: 'where jobs may read data (default: this directory, /usr/share/datasets, and the --submit job\'s data)' })
        .option('checkpoint-root', { type: 'string', array: true, describe: 'where jobs may write checkpoints (default: this directory, and the --submit job\'s checkpoint.dir)' }),
      (a) => run(upCommand({ host: 'localhost', port: a.port, stateDir: a['state-dir'], slots: a.slots, submit: a.submit, set: a.set, httpPort: a['http-port'], dataRoots: a['data-root'], checkpointRoots: a['checkpoint-root'] })))
    .command('coordinator', 'run the coordinator',
      (y) => withState(y).option('host', { type: 'string', default: 'localhost', describe: 'interface to listen on; beyond loopback it needs TLS (or --insecure)' })
        .option('tls-cert', { type: 'string', describe: 'TLS: the coordinator\'s certificate (PEM)' })
        .option('tls-key', { type: 'string', describe: 'TLS: its private key (PEM)' })
        .option('tls-ca', { type: 'string', describe: 'mutual TLS: clients must present a certificate this CA signed' })
        .option('insecure', { type: 'boolean', default: false, describe: 'listen beyond loopback without TLS all the same' })
        .option('http-port', { type: 'number', describe: HTTP_PORT }),
      (a) => run(coordinatorCommand({ host: a.host, port: a.port, stateDir: a['state-dir'], tlsCert: a['tls-cert'], tlsKey: a['tls-key'], tlsCa: a['tls-ca'], insecure: a.insecure, httpPort: a['http-port'] })))
    .command('worker', 'run a worker agent that offers this machine\'s slots',
      (y) => withCoordinator(y)
        .option('slots', { type: 'string', default: 'auto', describe: 'slots to offer: cpu:N, cuda:N, or auto (a cuda slot per GPU, else cpu slots for half the cores)' })
        .option('advertise', { type: 'string', describe: 'address peers use to reach this machine (default: its hostname)' })
        .option('data-root', { type: 'string', array: true, describe: 'where jobs may read data (default: this directory and /usr/share/datasets)' })
        .option('checkpoint-root', { type: 'string', array: true, describe: 'where jobs may write checkpoints (default: this directory)' })
        .option('drain-timeout-s', { type: 'number', describe: 'how long draining ranks get to checkpoint and stop before they are killed (default: 120)' })
        .option('orphan-grace-s', { type: 'number', describe: 'how long ranks train on while the coordinator is unreachable (it may be restarting) before they are stopped (default: 300)' }),
      (a) => run(workerCommand({ address: coordinatorAddress(a.coordinator), slots: a.slots, advertise: a.advertise, tokenFile: a['token-file'], tlsCa: a['tls-ca'], tlsCert: a['tls-cert'], tlsKey: a['tls-key'], dataRoots: a['data-root'], checkpointRoots: a['checkpoint-root'], drainTimeoutS: a['drain-timeout-s'], orphanGraceS: a['orphan-grace-s'] })))
    .command('submit <spec>', 'submit a job to the coordinator',
      (y) => withJson(withSet(withCoordinator(y.positional('spec', { type: 'string', demandOption: true, describe: 'job spec (YAML)' }))))
        .option('priority', { type: 'number', default: 0, describe: `higher runs first; an integer in [${PRIORITY_RANGE.min}, ${PRIORITY_RANGE.max}]` })
        .option('follow', { type: 'boolean', default: false, describe: 'stream progress until the job ends; exit 0 succeeded, 1 failed, 3 cancelled' }),
      (a) => run(submitCommand({ address: coordinatorAddress(a.coordinator), spec: a.spec, set: a.set, priority: a.priority, follow: a.follow, json: a.json })))
    .command('jobs', 'list jobs', (y) => withJson(withCoordinator(y)),
      (a) => run(jobsCommand({ address: coordinatorAddress(a.coordinator), json: a.json })))
    .command('status <job>', 'show one job (id or unique prefix)',
      (y) => withJson(withCoordinator(y.positional('job', { type: 'string', demandOption: true }))),
      (a) => run(statusCommand({ address: coordinatorAddress(a.coordinator), job: a.job, json: a.json })))
    .command('logs <job>', 'print a job\'s log (its ranks\' stderr and its state changes)',
      (y) => withCoordinator(y.positional('job', { type: 'string', demandOption: true }))
        .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'keep printing until the job ends' }),
      (a) => run(logsCommand({ address: coordinatorAddress(a.coordinator), job: a.job, follow: a.follow })))
    .command('cancel <job>', 'cancel a job', (y) => withCoordinator(y.positional('job', { type: 'string', demandOption: true })),
      (a) => run(cancelCommand({ address: coordinatorAddress(a.coordinator), job: a.job })))
    .command('checkpoints <job>', 'list a job\'s checkpoints', (y) => withJson(withCoordinator(y.positional('job', { type: 'string', demandOption: true }))),
      (a) => run(checkpointsCommand({ address: coordinatorAddress(a.coordinator), job: a.job, json: a.json })))
    .command('resume <job>', 'start a new attempt of a failed or cancelled job from a checkpoint',
      (y) => withJson(withCoordinator(y.positional('job', { type: 'string', demandOption: true })))
        .option('step', { type: 'number', describe: 'the checkpoint to start from (default: the newest valid one)' })
        .option('follow', { type: 'boolean', default: false, describe: 'stream progress until the job ends; exit 0 succeeded, 1 failed, 3 cancelled' }),
      (a) => run(resumeCommand({ address: coordinatorAddress(a.coordinator), job: a.job, step: a.step, follow: a.follow, json: a.json })))
    .command('workers', 'list worker agents', (y) => withJson(withCoordinator(y)),
      (a) => run(workersCommand({ address: coordinatorAddress(a.coordinator), json: a.json })))
    .command('drain <worker>', 'take a worker out: its ranks checkpoint at their next step, their jobs are queued again, it leaves',
      (y) => withCoordinator(y.positional('worker', { type: 'string', demandOption: true, describe: 'worker id (ringmaster workers)' })),
      (a) => run(drainCommand({ address: coordinatorAddress(a.coordinator), worker: a.worker })))
    .middleware((a) => useConnectionFlags({ tokenFile: a['token-file'] as string | undefined, tlsCa: a['tls-ca'] as string | undefined, tlsCert: a['tls-cert'] as string | undefined, tlsKey: a['tls-key'] as string | undefined }))
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
