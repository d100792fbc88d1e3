/**
 * Where a followed job's lines go (`submit --follow`, `resume --follow`). On a terminal its
 * progress is one line redrawn in place, a bar with the step, loss, throughput and ETA, and every
 * other line (state changes, evaluations, checkpoints) scrolls above it; anywhere else (a file, a
 * pipe, CI) every line is printed as it comes.
 */
import { formatProgressLine, type Progress } from '../common/progress.js';

export interface FollowOutput {
  progress(name: string, p: Progress): void;
  line(text: string): void;
  end(): void;
}

interface Stream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

const BAR = 20; // characters of the bar
const CLEAR = '\r\x1b[K'; // back to the line's start, and erase it

/** `[name] ██████░░░░░░░░░░░░░░ step 600/2000 30% …`, cut to `columns`. */
export function progressBar(name: string, p: Progress, columns: number): string {
  const filled = p.totalSteps > 0 ? Math.min(BAR, Math.round((BAR * p.step) / p.totalSteps)) : 0;
  const line = formatProgressLine(name, p).replace(/^(\[[^\]]*\]) /, `$1 ${'█'.repeat(filled)}${'░'.repeat(BAR - filled)} `);
  return [...line].length > columns ? `${[...line].slice(0, Math.max(0, columns - 1)).join('')}…` : line;
}

export class FollowDisplay implements FollowOutput {
  private bar = ''; // the progress line now on screen; '' when none is

  constructor(private readonly stream: Stream) {}

  progress(name: string, p: Progress): void {
    if (!this.stream.isTTY) return this.line(formatProgressLine(name, p));
    this.bar = progressBar(name, p, this.stream.columns ?? 80);
    this.stream.write(`${CLEAR}${this.bar}`);
  }

  line(text: string): void {
    if (!this.bar) return void this.stream.write(`${text}\n`);
    this.stream.write(`${CLEAR}${text}\n${this.bar}`);
  }

  /** Leaves the last progress line on screen and moves below it. */
  end(): void {
    if (this.bar) this.stream.write('\n');
    this.bar = '';
  }
}

/** Says nothing (`up --submit`, whose coordinator prints the progress itself). */
export const SILENT: FollowOutput = { progress() {}, line() {}, end() {} };
