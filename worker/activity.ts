/**
 * What this rank is doing, for its liveness reports (worker/rank-messages.ts, AliveMessage): the
 * training loop's phase ("step 57", "evaluating after step 500") and the communication operation
 * the native engine has been in longest. A rank whose activity stops changing is hung.
 */
import { loadNative } from './native.js';

let phase = 'starting';

export function setActivity(text: string): void {
  phase = text;
}

export function currentActivity(): string {
  const operation = loadNative().currentOperation();
  return operation ? `${phase}: ${operation}` : phase;
}
