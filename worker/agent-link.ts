/**
 * The lifecycle of a worker agent's link to its coordinator. Every change goes through
 * `checkLinkTransition`, as a job's state goes through job-state.ts's.
 *
 * | state        | meaning                                           | moves on when                          |
 * | ------------ | ------------------------------------------------- | -------------------------------------- |
 * | `waiting`    | no session: the first dial, or a redial after a   | its backoff ends → connecting;         |
 * |              | backoff; rank events are kept for the next        | shutdown → stopped                     |
 * |              | session and ranks train on (the orphan grace)     |                                        |
 * | `connecting` | a session stream is open and Register sent        | Registered → registered; the stream    |
 * |              |                                                   | ends → waiting; refused (a wrong       |
 * |              |                                                   | token, another's id) or shutdown →     |
 * |              |                                                   | stopped                                |
 * | `registered` | the coordinator knows it: assignments come in,    | the stream ends or falls silent →      |
 * |              | rank events and heartbeats go out                 | waiting; shutdown → stopped            |
 * | `stopped`    | terminal: its ranks are killed, it never redials  | never                                  |
 *
 * Draining (SIGTERM, `ringmaster drain`) is not a link state: a draining agent keeps its link
 * until its ranks have stopped, then shuts down.
 */
export type LinkState = 'waiting' | 'connecting' | 'registered' | 'stopped';

const LINK_TRANSITIONS: Readonly<Record<LinkState, readonly LinkState[]>> = {
  waiting: ['connecting', 'stopped'],
  connecting: ['registered', 'waiting', 'stopped'],
  registered: ['waiting', 'stopped'],
  stopped: [],
};

export function checkLinkTransition(from: LinkState, to: LinkState): void {
  if (!LINK_TRANSITIONS[from].includes(to)) throw new Error(`illegal agent link transition: ${from} → ${to}`);
}
