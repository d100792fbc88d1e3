/** Assembles the coordinator: state, job manager, worker sessions, and the gRPC server. */
import * as grpc from '@grpc/grpc-js';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { RingmasterError } from '../common/errors.js';
import { Logger } from '../common/log.js';
import { coordinatorToken } from '../common/token.js';
import { requireToken } from '../proto/auth.js';
import { ringmasterV1 } from '../proto/load.js';
import { isLoopback, serverCredentials, type ServerTls } from '../proto/transport.js';
import { JobLogs } from './job-logs.js';
import { DEFAULT_JOB_POLICY, JobManager, type JobManagerPolicy } from './job-manager.js';
import { jobServiceHandlers } from './jobs-service.js';
import { RendezvousStore } from './rendezvous.js';
import { RENDEZVOUS_METHODS, rendezvousHandlers } from './rendezvous-service.js';
import { startHttp } from './http.js';
import { CoordinatorMetrics } from './metrics.js';
import { Store } from './store.js';
import { DEFAULT_HEARTBEAT, WorkerSessions, type HeartbeatPolicy } from './worker-sessions.js';

export interface CoordinatorOptions {
  host: string; // localhost by default; 0.0.0.0 opens it to a network
  port: number; // 0 picks a free port
  tls?: ServerTls; // TLS on every connection (mutual TLS with tls.ca)
  insecure?: boolean; // listen beyond loopback without TLS all the same (warned on every start)
  stateDir: string;
  heartbeat?: HeartbeatPolicy;
  jobs?: JobManagerPolicy;
  print?: (line: string) => void;
  httpPort?: number; // serve /metrics and the dashboard (coordinator/http.ts) on this port too; 0: any free port; absent: no HTTP
}

export interface RunningCoordinator {
  port: number;
  httpPort?: number;
  close(): Promise<void>;
}

export async function startCoordinator(o: CoordinatorOptions): Promise<RunningCoordinator> {
  const exposed = !isLoopback(o.host) && !o.tls;
  if (exposed && !o.insecure) {
    throw new RingmasterError('BAD_ARGUMENT', `refusing to listen on ${o.host} without TLS: its token and every job would cross the network in clear (pass --tls-cert and --tls-key, or --insecure to accept that)`);
  }
  const credentials = serverCredentials(o.tls);
  mkdirSync(o.stateDir, { recursive: true, mode: 0o700 }); // its database, token and logs are the coordinator's owner's alone
  const token = coordinatorToken(o.stateDir);
  const store = Store.open(o.stateDir);
  const log = new Logger('coordinator', path.join(o.stateDir, 'coordinator.jsonl'), o.print);
  if (exposed) log.warn(`listening on ${o.host} without TLS (--insecure): anyone on the network can read the token and the jobs' traffic`);
  store.markAllWorkersDisconnected();
  const sessions = new WorkerSessions(store, log, o.heartbeat ?? DEFAULT_HEARTBEAT);
  const logs = new JobLogs(o.stateDir);
  const rendezvous = new RendezvousStore();
  const metrics = new CoordinatorMetrics(store, sessions);
  const manager = new JobManager(store, sessions, logs, rendezvous, log, o.jobs ?? DEFAULT_JOB_POLICY, metrics);
  sessions.attach(manager);
  manager.recover();

  const v1 = ringmasterV1();
  const refused = (peer: string, method: string) => log.warn(`refused ${method} from ${peer}: missing or wrong token`, { peer, method });
  // A job attempt's token reaches the rendezvous service, where it opens its own scope only.
  const attemptToken = (method: string, given: string) => method.startsWith(RENDEZVOUS_METHODS) && rendezvous.isAttemptToken(given);
  const server = new grpc.Server({ interceptors: [metrics.interceptor(), requireToken(token.token, refused, attemptToken)] });
  server.addService(v1.JobService.service, jobServiceHandlers(manager, store, logs, sessions));
  server.addService(v1.WorkerService.service, { Session: (call: Parameters<WorkerSessions['handle']>[0]) => sessions.handle(call) });
  server.addService(v1.RendezvousService.service, rendezvousHandlers(rendezvous, token.token));
  const address = `${o.host}:${o.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials, (err, bound) => {
      if (err) reject(new RingmasterError('BAD_ARGUMENT', `cannot listen on ${address}: ${err.message} (choose another --port)`));
      else resolve(bound);
    });
  }).catch((e: unknown) => {
    store.close();
    throw e;
  });
  const dashboard = { store, logs, busySlots: (id: string) => manager.busySlots(id), connected: () => sessions.connected(), watch: manager.watch.bind(manager) };
  const web = o.httpPort === undefined ? undefined : await startHttp({ host: o.host, port: o.httpPort, token: token.token, tls: o.tls, metrics, dashboard, log }).catch((e: unknown) => {
    server.forceShutdown();
    store.close();
    throw e;
  });
  const webUrl = web && `${o.tls ? 'https' : 'http'}://${o.host}:${web.port}`;
  log.info(`listening on ${o.host}:${port}${o.tls ? (o.tls.ca ? ' (mutual TLS)' : ' (TLS)') : ''}${webUrl ? `, metrics on ${webUrl}/metrics, dashboard on ${webUrl}/` : ''}, state in ${o.stateDir}, token in ${token.file}`);
  manager.scheduleJobs();
  return {
    port,
    ...(web ? { httpPort: web.port } : {}),
    close: async () => {
      await web?.close();
      await new Promise<void>((resolve) => {
        sessions.close();
        manager.close();
        server.tryShutdown(() => {
          store.close();
          resolve();
        });
      });
    },
  };
}
