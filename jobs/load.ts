/**
 * Reading a job spec file: YAML → `--set key.path=value` overrides → validateSpec, with
 * relative paths resolved against the file's directory. Also the spec's content hash, and keys
 * read from a spec stored by an earlier version (which may lack keys added since).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isCollection, LineCounter, parseDocument } from 'yaml';
import { RingmasterError } from '../common/errors.js';
import type { JobSpec } from './types.js';
import { formatValue, isMapping, validateSpec } from './validate.js';

/**
 * The largest spec a job may have, as YAML or as the JSON a submission carries: far above any
 * real spec, far below gRPC's 4 MiB message limit.
 */
export const SPEC_MAX_BYTES = 256 * 1024;
/** YAML aliases a spec may expand: a few are legitimate; thousands are a "billion laughs". */
const MAX_ALIASES = 100;

/** Priorities a job may be submitted with (higher runs first). */
export const PRIORITY_RANGE = { min: -1000, max: 1000 } as const;

export function checkPriority(priority: number): void {
  if (!Number.isInteger(priority) || priority < PRIORITY_RANGE.min || priority > PRIORITY_RANGE.max) {
    throw new RingmasterError('BAD_ARGUMENT', `priority ${priority}: must be an integer in [${PRIORITY_RANGE.min}, ${PRIORITY_RANGE.max}]`);
  }
}

/** A spec text or JSON larger than SPEC_MAX_BYTES is refused, naming its size and the limit. */
export function checkSpecSize(bytes: number, source: string): void {
  if (bytes > SPEC_MAX_BYTES) {
    throw new RingmasterError('BAD_SPEC', `spec: ${source} is ${bytes} bytes, more than the ${SPEC_MAX_BYTES} a spec may have`);
  }
}

export function loadSpecFile(path: string, overrides: string[]): JobSpec {
  const raw = parseYaml(readSpecText(path), path);
  return validateSpec(applyOverrides(raw, overrides), { specDir: dirname(resolve(path)) });
}

/**
 * Returns a copy of `raw` with each `key.path=value` applied in order; the value is a YAML
 * scalar or flow collection (`3e-4`, `true`, `[512, 256]`, `{ kind: mlp }`). Missing
 * intermediate mappings are created; the key names themselves are judged by validateSpec.
 */
export function applyOverrides(raw: unknown, overrides: string[]): unknown {
  let spec = structuredClone(raw);
  for (const override of overrides) {
    const { keys, value } = parseOverride(override);
    spec = setAt(spec, keys, 0, value, override);
  }
  return spec;
}

/** sha256 (hex) of the spec as JSON with keys sorted at every level. */
export function specHash(spec: JobSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

/** The max_restarts of a stored spec's JSON: 0 for a spec stored before the key existed. */
export function maxRestartsOf(specJson: string): number {
  return (JSON.parse(specJson) as Partial<Pick<JobSpec, 'max_restarts'>>).max_restarts ?? 0;
}

function readSpecText(path: string): string {
  try {
    checkSpecSize(statSync(path).size, path);
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof RingmasterError) throw e;
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new RingmasterError('FILE_UNREADABLE', `spec: cannot read ${path}: ${reason}`);
  }
}

function parseYaml(text: string, source: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  const [error] = doc.errors;
  if (error !== undefined) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    throw new RingmasterError('BAD_SPEC', `spec: ${source}:${line}:${col}: ${error.message}`);
  }
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (e) {
    // The yaml package's guard against alias expansion ("billion laughs") throws a plain Error.
    throw new RingmasterError('BAD_SPEC', `spec: ${source}: ${(e as Error).message} (a spec may expand at most ${MAX_ALIASES} aliases)`);
  }
}

function parseOverride(override: string): { keys: string[]; value: unknown } {
  const eq = override.indexOf('=');
  const keys = override.slice(0, Math.max(eq, 0)).trim().split('.');
  if (eq < 0 || keys.some((k) => !/^[A-Za-z0-9_-]+$/.test(k))) {
    throw badOverride(override, 'expected key.path=value, for example optimizer.lr=3e-4');
  }
  const doc = parseDocument(override.slice(eq + 1), { prettyErrors: false });
  const [error] = doc.errors;
  if (error !== undefined) throw badOverride(override, `the value is not valid YAML: ${error.message}`);
  if (isCollection(doc.contents) && !doc.contents.flow) {
    throw badOverride(override, 'the value must be a scalar or a flow collection such as [1, 2] or { a: 1 }');
  }
  return { keys, value: doc.toJS() };
}

/** Sets keys[depth].keys[depth + 1]… = value in node, creating absent or empty mappings on the way. */
function setAt(node: unknown, keys: string[], depth: number, value: unknown, override: string): unknown {
  const mapping = node ?? {};
  if (!isMapping(mapping)) {
    const where = depth === 0 ? 'the spec' : keys.slice(0, depth).join('.');
    throw badOverride(override, `${where} = ${formatValue(mapping)} is not a mapping`);
  }
  const name = keys[depth];
  const child = Object.hasOwn(mapping, name) ? mapping[name] : undefined;
  const next = depth === keys.length - 1 ? value : setAt(child, keys, depth + 1, value, override);
  // defineProperty, not assignment, so a key such as "__proto__" stays a plain (and later rejected) key.
  Object.defineProperty(mapping, name, { value: next, enumerable: true, writable: true, configurable: true });
  return mapping;
}

function badOverride(override: string, reason: string): RingmasterError {
  return new RingmasterError('BAD_SPEC', `spec: override ${JSON.stringify(override)}: ${reason}`);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isMapping(value)) {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}
