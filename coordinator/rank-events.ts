/** How a rank's exit reads: its outcome, and the reason it fails its job's attempt. */
import type { AttemptFailure } from './restarts.js';
import type { ReportRecord } from './store.js';

export interface RankOutcome {
  exitCode: number; // -1 when killed by a signal
  signal: string;
  errorCode: string;
  errorMessage: string;
  report: ReportRecord | null;
}

/**
 * Why a rank's exit fails its job's attempt, naming the rank; null when it finished its training.
 * A hung rank's reason, from its agent, lists the ranks there; `elsewhere` adds the others'.
 */
export function rankFailure(rank: number, o: RankOutcome, elsewhere: string[] = []): AttemptFailure | null {
  const failure = (reason: string) => ({ reason, errorCode: o.errorCode });
  if (o.errorCode === 'RANK_HUNG') return failure(`rank ${rank} ${o.errorMessage}${elsewhere.length > 0 ? `; on other workers: ${elsewhere.join('; ')}` : ''}`);
  if (o.signal) return failure(`rank ${rank} was killed by ${o.signal}`);
  // its agent refused to start it (the reason says why), or its process could not be spawned
  if (o.exitCode === -1) return failure(`rank ${rank} was not started${o.errorMessage ? `: ${o.errorMessage}` : ''}`);
  if (o.exitCode !== 0) return failure(`rank ${rank} exited with code ${o.exitCode}${o.errorMessage ? `: ${o.errorMessage}` : ''}`);
  if (!o.report) return failure(`rank ${rank} exited without reporting a result`);
  return null;
}
