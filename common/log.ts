/**
 * Logging for long-running processes (coordinator, worker agent): a line a person reads on the
 * terminal, and the same event as one JSON object per line (with jobId, rank and step when they
 * apply) in a file for machines.
 */
import { appendFileSync } from 'node:fs';

export interface LogFields {
  jobId?: string;
  rank?: number;
  step?: number;
  [key: string]: unknown;
}

export type Level = 'info' | 'warn' | 'error';

export class Logger {
  constructor(
    private readonly component: string,
    private readonly jsonFile: string | undefined,
    private readonly print: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  ) {}

  info(message: string, fields: LogFields = {}): void {
    this.log('info', message, fields);
  }

  warn(message: string, fields: LogFields = {}): void {
    this.log('warn', message, fields);
  }

  error(message: string, fields: LogFields = {}): void {
    this.log('error', message, fields);
  }

  /** A person-readable line (a progress line) that is not repeated as its own event. */
  line(text: string, fields: LogFields = {}): void {
    this.print(text);
    this.writeJson('info', text, fields);
  }

  private log(level: Level, message: string, fields: LogFields): void {
    const prefix = level === 'info' ? '' : `${level}: `;
    this.print(`${new Date().toISOString().slice(11, 19)} ${this.component}: ${prefix}${message}`);
    this.writeJson(level, message, fields);
  }

  private writeJson(level: Level, message: string, fields: LogFields): void {
    if (!this.jsonFile) return;
    const record = { time: new Date().toISOString(), level, component: this.component, message, ...fields };
    appendFileSync(this.jsonFile, `${JSON.stringify(record)}\n`);
  }
}
