/** The worker agent's link lifecycle (worker/agent-link.ts): the moves its table allows, and no others. */
import { describe, expect, it } from 'vitest';
import { checkLinkTransition, type LinkState } from '../../worker/agent-link.js';

const STATES: LinkState[] = ['waiting', 'connecting', 'registered', 'stopped'];
const ALLOWED = new Set(['waiting→connecting', 'waiting→stopped', 'connecting→registered', 'connecting→waiting', 'connecting→stopped', 'registered→waiting', 'registered→stopped']);

describe('agent link transitions', () => {
  for (const from of STATES) {
    for (const to of STATES) {
      const move = `${from}→${to}`;
      it(`${move}: ${ALLOWED.has(move) ? 'allowed' : 'refused'}`, () => {
        if (ALLOWED.has(move)) expect(() => checkLinkTransition(from, to)).not.toThrow();
        else expect(() => checkLinkTransition(from, to)).toThrow(`illegal agent link transition: ${from} → ${to}`);
      });
    }
  }
});
