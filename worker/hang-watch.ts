/**
 * Hang detection (DESIGN.md, "Failure"): a rank whose activity (its step, and the communication
 * operation it is in, reported every few seconds) has not changed for the job's
 * progress_timeout_s is hung, whether it is stuck in an operation, stopped (SIGSTOP), or gone
 * quiet. The agent then stops every rank of that job it runs, each with a reason naming the hung
 * rank and every rank's last activity, so the job's log says where each one stood.
 */

/** What the agent knows of one of its ranks. */
export interface WatchedRank {
  key: string;
  jobId: string;
  rank: number;
  activity: string; // the last one reported
  idleMs: number; // since it last changed
  timeoutMs: number; // the job's progress_timeout_s
}

/** The first hung rank's job, and the reason each of that job's ranks here is stopped with; undefined when none is hung. */
export function findHung(ranks: WatchedRank[]): { jobId: string; reasons: Map<string, string> } | undefined {
  const hung = ranks.filter((r) => r.idleMs > r.timeoutMs).sort((a, b) => b.idleMs - a.idleMs)[0];
  if (!hung) return undefined;
  const job = ranks.filter((r) => r.jobId === hung.jobId).sort((a, b) => a.rank - b.rank);
  const seconds = (ms: number) => `${Math.round(ms / 1000)}s`;
  const last = job.map((r) => `rank ${r.rank}: ${r.activity} (unchanged for ${seconds(r.idleMs)})`).join('; ');
  const stalled = `made no progress for ${seconds(hung.idleMs)} (progress_timeout_s ${seconds(hung.timeoutMs)})`;
  const reasons = new Map(job.map((r) => [r.key, r === hung ? `${stalled}; last activities: ${last}` : `was stopped: rank ${hung.rank} ${stalled}; last activities: ${last}`]));
  return { jobId: hung.jobId, reasons };
}
