/**
 * Turns a parsed job spec into a JobSpec by walking JOB_SCHEMA: defaults filled, types and
 * limits checked, paths resolved. Every failure is one line naming the key, the value and what
 * is allowed. Order: key rules, then CROSS_CHECKS, then NOT_YET_SUPPORTED, then the file
 * system, so a spec's own mistakes are reported before the machine's.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { RingmasterError } from '../common/errors.js';
import {
  CROSS_CHECKS,
  JOB_SCHEMA,
  MODEL_DATA,
  NOT_YET_SUPPORTED,
  type AnySection,
  type AnyVariant,
  type Field,
  type Range,
  type Rule,
  type SchemaNode,
} from './schema.js';
import type { DataSpec, JobSpec, ModelSpec } from './types.js';

type Mapping = Record<string, unknown>;

interface Walk {
  specDir: string;
  dirsToCheck: { key: string; dir: string; hint: string; file: boolean }[];
}

/**
 * Throws RingmasterError BAD_SPEC (or DATA_MISSING for a missing data directory) on the first
 * problem. `checkFiles: false` skips the checks that need the data's machine (the coordinator's
 * case: its ranks check on theirs, and report a missing file in one line).
 */
export function validateSpec(raw: unknown, opts: { specDir: string; checkFiles?: boolean }): JobSpec {
  const walk: Walk = { specDir: opts.specDir, dirsToCheck: [] };
  const spec = checkSection(JOB_SCHEMA, raw, '', walk);
  for (const check of CROSS_CHECKS) {
    const value = valueAt(spec, check.key) as number | undefined;
    if (value === undefined) continue;
    if ('atMost' in check) {
      const limit = valueAt(spec, check.atMost) as number;
      if (value > limit) throw badValue(check.key, value, `≤ ${check.atMost} (${formatValue(limit)})`);
    } else {
      const divisor = valueAt(spec, check.multipleOf) as number | undefined;
      if (divisor !== undefined && value % divisor !== 0) throw badValue(check.key, value, `a multiple of ${check.multipleOf} (${formatValue(divisor)})`);
    }
  }
  const model = (spec.model as { kind: ModelSpec['kind'] }).kind;
  const data = (spec.data as { kind: DataSpec['kind'] }).kind;
  if (!MODEL_DATA[model].includes(data)) {
    throw new RingmasterError('BAD_SPEC', `spec: data.kind = ${formatValue(data)} does not fit model.kind ${model} (use ${MODEL_DATA[model].join(' or ')})`);
  }
  checkPipeline(spec as unknown as JobSpec);
  checkDevice(spec as unknown as JobSpec);
  for (const { key, allowed, reason } of NOT_YET_SUPPORTED) {
    const value = valueAt(spec, key);
    if (!allowed.includes(value)) {
      throw new RingmasterError('BAD_SPEC', `spec: ${key} = ${formatValue(value)}: ${reason}`);
    }
  }
  for (const { key, dir, hint, file } of opts.checkFiles === false ? [] : walk.dirsToCheck) {
    if (file ? !isFile(dir) : !isDirectory(dir)) {
      throw new RingmasterError('DATA_MISSING', `spec: ${key} = ${formatValue(dir)}: no such ${file ? 'file' : 'directory'} (${hint})`);
    }
  }
  return spec as unknown as JobSpec;
}

/** A cuda job's collectives are NCCL's, which reduce gradients in fp32. */
function checkDevice(spec: JobSpec): void {
  if (spec.device !== 'cuda') return;
  if (spec.parallel.reduce_dtype !== 'fp32') throw badValue('parallel.reduce_dtype', spec.parallel.reduce_dtype, 'fp32 for device: cuda (NCCL reduces the gradients in fp32)');
}

/** What a pipeline needs of the model and the batch. */
function checkPipeline(spec: JobSpec): void {
  const { pipeline: stages, schedule, virtual } = spec.parallel;
  const m = spec.model;
  const weighted = m.kind === 'mlp' ? m.hidden.length + 1 : m.kind === 'cnn' ? 4 : Infinity; // layers with parameters
  if (stages > weighted) throw badValue('parallel.pipeline', stages, `at most ${weighted} for this ${m.kind} (every stage holds a layer with parameters)`);
  const byHand = spec.parallel.stages;
  if (byHand) {
    const pieces = stages * (schedule === 'interleaved' ? virtual : 1);
    const total = m.kind === 'gpt' ? m.layers : weighted;
    const what = m.kind === 'gpt' ? 'model.layers' : `the ${m.kind}'s layers with parameters`;
    const sum = byHand.reduce((a, b) => a + b, 0);
    if (byHand.length !== pieces || sum !== total) {
      throw badValue('parallel.stages', byHand, `${pieces} counts (one per ${schedule === 'interleaved' ? 'chunk' : 'stage'}) adding up to ${what} (${total})`);
    }
  }
  if (schedule !== 'interleaved') return;
  if (m.kind !== 'gpt') throw badValue('parallel.schedule', schedule, `1f1b for an ${m.kind} (interleaved stages split a gpt)`);
  if (stages < 2) throw badValue('parallel.schedule', schedule, '1f1b unless parallel.pipeline > 1');
  if (spec.model.kind === 'gpt' && stages * virtual > spec.model.layers) {
    throw badValue('parallel.virtual', virtual, `at most model.layers / parallel.pipeline (${Math.floor(spec.model.layers / stages)}): every chunk holds a block`);
  }
  if (spec.batch.accumulate % stages !== 0) throw badValue('batch.accumulate', spec.batch.accumulate, `a multiple of parallel.pipeline (${stages}) for the interleaved schedule`);
}

/** Compact one-line rendering of a value for messages: numbers as written, the rest as JSON. */
export function formatValue(value: unknown): string {
  const text = typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

export function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkNode(node: SchemaNode, value: unknown, key: string, walk: Walk): unknown {
  switch (node.node) {
    case 'field':
      return checkField(node, value, key, walk);
    case 'section':
      return checkSection(node, value, key, walk);
    case 'variant':
      return checkVariant(node, value, key, walk);
  }
}

function checkSection(section: AnySection, value: unknown, key: string, walk: Walk): Mapping {
  const given = asMapping(value, key);
  rejectUnknownKeys(given, Object.keys(section.keys), key);
  const out: Mapping = {};
  for (const [name, node] of Object.entries(section.keys)) {
    out[name] = checkNode(node, given[name], joinKey(key, name), walk);
  }
  return out;
}

/**
 * `kind` picks the variant. Unknown keys are judged against all variants first for better
 * hints; a key that only other kinds have is then refused naming those kinds.
 */
function checkVariant(variant: AnyVariant, value: unknown, key: string, walk: Walk): Mapping {
  const given = asMapping(value, key);
  const kinds = Object.entries(variant.variants);
  rejectUnknownKeys(given, ['kind', ...new Set(kinds.flatMap(([, s]) => Object.keys(s.keys)))], key);
  const kindField: Field = {
    node: 'field',
    rule: { type: 'enum', values: kinds.map(([name]) => name) },
    doc: variant.kindDoc,
    ...(variant.defaultKind === undefined ? { required: true } : { default: variant.defaultKind }),
  };
  const kindKey = joinKey(key, 'kind');
  const kind = checkField(kindField, given.kind, kindKey, walk) as string;
  const section = variant.variants[kind];
  for (const name of Object.keys(given)) {
    if (name === 'kind' || Object.hasOwn(section.keys, name)) continue;
    const owners = kinds.filter(([, s]) => Object.hasOwn(s.keys, name)).map(([k]) => k);
    throw new RingmasterError(
      'BAD_SPEC',
      `spec: key ${JSON.stringify(joinKey(key, name))} does not apply to ${kindKey} ${kind} (only to ${owners.join(', ')})`,
    );
  }
  return checkSection({ ...section, keys: { kind: kindField, ...section.keys } }, given, key, walk);
}

function checkField(field: Field, value: unknown, key: string, walk: Walk): unknown {
  if (value === undefined) {
    if (field.required) throw new RingmasterError('BAD_SPEC', `spec: missing required key ${JSON.stringify(key)}`);
    value = structuredClone(field.default);
  }
  if (value === null && field.nullable) return null;
  return checkRule(field.rule, value, key, walk, field.nullable ?? false);
}

function checkRule(rule: Rule, value: unknown, key: string, walk: Walk, nullable = false): unknown {
  if (!accepts(rule, value)) throw badValue(key, value, describe(rule, false) + (nullable ? ' or null' : ''));
  switch (rule.type) {
    case 'list':
      return (value as unknown[]).map((item, i) => checkRule(rule.item, item, `${key}[${i}]`, walk));
    case 'path': {
      const dir = resolve(walk.specDir, value as string);
      if (rule.mustExist) walk.dirsToCheck.push({ key, dir, hint: rule.mustExist.hint, file: rule.mustExist.file ?? false });
      return dir;
    }
    default:
      return value;
  }
}

/** Whether `value` has the rule's type and limits; list items are checked by the caller. */
function accepts(rule: Rule, value: unknown): boolean {
  switch (rule.type) {
    case 'int':
      return Number.isInteger(value) && inRange(value as number, rule.range);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) && inRange(value, rule.range);
    case 'bool':
      return typeof value === 'boolean';
    case 'enum':
      return typeof value === 'string' && rule.values.includes(value);
    case 'string':
      return typeof value === 'string' && value.length <= rule.maxLength && rule.pattern.test(value);
    case 'path':
      return typeof value === 'string' && value !== '';
    case 'list':
      return (
        Array.isArray(value) &&
        (rule.length === undefined || value.length === rule.length) &&
        !(rule.nonEmpty && value.length === 0)
      );
  }
}

/** What a rule allows, as the end of "must be …". */
function describe(rule: Rule, plural: boolean): string {
  switch (rule.type) {
    case 'int':
      return `${plural ? 'integers' : 'an integer'} ${describeRange(rule.range)}`;
    case 'number':
      return `${plural ? 'numbers' : 'a number'} ${describeRange(rule.range)}`;
    case 'bool':
      return 'true or false';
    case 'enum':
      return `one of ${rule.values.join(', ')}`;
    case 'string':
      return rule.allowed;
    case 'path':
      return 'a non-empty path';
    case 'list': {
      const size = rule.length !== undefined ? `${rule.length} ` : '';
      return `a ${rule.nonEmpty ? 'non-empty ' : ''}list of ${size}${describe(rule.item, true)}`;
    }
  }
}

function describeRange({ ge, gt, le, lt }: Range): string {
  const low = ge ?? gt;
  const high = le ?? lt;
  if (low !== undefined && high !== undefined) {
    return `in ${ge !== undefined ? '[' : '('}${low}, ${high}${le !== undefined ? ']' : ')'}`;
  }
  if (ge !== undefined) return `≥ ${ge}`;
  if (gt !== undefined) return `> ${gt}`;
  if (le !== undefined) return `≤ ${le}`;
  return lt !== undefined ? `< ${lt}` : '';
}

function inRange(value: number, { ge, gt, le, lt }: Range): boolean {
  return (
    (ge === undefined || value >= ge) &&
    (gt === undefined || value > gt) &&
    (le === undefined || value <= le) &&
    (lt === undefined || value < lt)
  );
}

/** An absent or empty (`key:` with no value) section means "all defaults". */
function asMapping(value: unknown, key: string): Mapping {
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) throw badValue(key || '(top level)', value, 'a mapping of keys');
  return value;
}

function rejectUnknownKeys(given: Mapping, allowed: string[], key: string): void {
  for (const name of Object.keys(given)) {
    if (allowed.includes(name)) continue;
    const near = closest(name, allowed);
    const hint =
      near !== undefined ? `did you mean ${JSON.stringify(joinKey(key, near))}?` : `allowed: ${allowed.join(', ')}`;
    throw new RingmasterError('BAD_SPEC', `spec: unknown key ${JSON.stringify(joinKey(key, name))} (${hint})`);
  }
}

/** The candidate equal ignoring case, else the nearest within 1 edit (short names) or 2. */
function closest(name: string, candidates: string[]): string | undefined {
  const sameCase = candidates.find((c) => c.toLowerCase() === name.toLowerCase());
  if (sameCase !== undefined) return sameCase;
  const limit = name.length <= 3 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** Levenshtein distance where swapping two neighbouring characters also counts as one edit. */
function editDistance(a: string, b: string): number {
  // d[i][j]: distance between the first i characters of a and the first j of b.
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const substitution = d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, substitution);
      const swapped = i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1];
      if (swapped) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

function badValue(key: string, value: unknown, allowed: string): RingmasterError {
  return new RingmasterError('BAD_SPEC', `spec: ${key} = ${formatValue(value)}: must be ${allowed}`);
}

function joinKey(parent: string, name: string): string {
  return parent === '' ? name : `${parent}.${name}`;
}

function valueAt(spec: Mapping, key: string): unknown {
  return key.split('.').reduce<unknown>((node, name) => (node as Mapping)[name], spec);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
