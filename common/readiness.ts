/**
 * How a long-running child (the coordinator, a worker agent) tells the process that started it
 * (`ringmaster up`) that it is ready, over Node's IPC channel when it has one: structured, not
 * a line of its log to match. Without a channel (started by hand, by systemd) it says nothing.
 */
export type ReadyMessage =
  | { type: 'listening'; port: number; httpPort?: number } // the coordinator serves gRPC (and HTTP)
  | { type: 'registered'; workerId: string }; // the worker registered with its coordinator

export function announceReady(message: ReadyMessage): void {
  if (!process.send || !process.connected) return;
  process.send(message);
  process.channel?.unref(); // the channel alone never keeps the process alive
}
