/**
 * The job spec's JSON Schema (draft 2020-12), made from the one declaration of the spec in
 * schema.ts, for editors: `ringmaster schema > ringmaster.schema.json`, then a spec file's first
 * line `# yaml-language-server: $schema=ringmaster.schema.json` gives completion, each key's
 * description and default, and errors as you type. The coordinator still validates with
 * validate.ts, whose messages name the fix.
 */
import { JOB_SCHEMA, type AnySection, type AnyVariant, type Field, type Range, type Rule, type SchemaNode } from './schema.js';

type Json = Record<string, unknown>;

function bounds(r: Range): Json {
  return {
    ...(r.ge !== undefined ? { minimum: r.ge } : {}),
    ...(r.gt !== undefined ? { exclusiveMinimum: r.gt } : {}),
    ...(r.le !== undefined ? { maximum: r.le } : {}),
    ...(r.lt !== undefined ? { exclusiveMaximum: r.lt } : {}),
  };
}

/** A RegExp's source for JSON Schema's patterns, which have no flags: /[a-z]/i becomes [a-zA-Z]. */
function pattern(re: RegExp): string {
  return re.flags.includes('i') ? re.source.replace(/a-z/g, 'a-zA-Z') : re.source;
}

function rule(r: Rule): Json {
  switch (r.type) {
    case 'int':
      return { type: 'integer', ...bounds(r.range) };
    case 'number':
      return { type: 'number', ...bounds(r.range) };
    case 'bool':
      return { type: 'boolean' };
    case 'enum':
      return { enum: [...r.values] };
    case 'string':
      return { type: 'string', pattern: pattern(r.pattern), maxLength: r.maxLength };
    case 'path':
      return { type: 'string', minLength: 1 };
    case 'list':
      return {
        type: 'array', items: rule(r.item),
        ...(r.length !== undefined ? { minItems: r.length, maxItems: r.length } : r.nonEmpty ? { minItems: 1 } : {}),
      };
  }
}

function field(f: Field): Json {
  const base = rule(f.rule);
  const typed = f.nullable ? { anyOf: [base, { type: 'null' }] } : base;
  return { description: f.doc, ...typed, ...(f.default !== undefined && !f.required ? { default: f.default } : {}) };
}

function section(s: AnySection, extra: Json = {}): Json {
  const properties: Json = { ...extra };
  for (const [key, child] of Object.entries(s.keys)) properties[key] = node(child);
  const required = Object.entries(s.keys).filter(([, c]) => c.node === 'field' && c.required).map(([k]) => k);
  return { type: 'object', description: s.doc, properties, additionalProperties: false, ...(required.length ? { required } : {}) };
}

function variant(v: AnyVariant): Json {
  return {
    description: v.doc,
    anyOf: Object.entries(v.variants).map(([kind, keys]) => {
      const kindField = { description: v.kindDoc, const: kind };
      const s = section(keys, { kind: kindField });
      // an absent kind means the default one; every other kind must be named
      return kind === v.defaultKind ? s : { ...s, required: ['kind', ...((s.required as string[] | undefined) ?? [])] };
    }),
  };
}

function node(n: SchemaNode): Json {
  return n.node === 'field' ? field(n) : n.node === 'section' ? section(n) : variant(n);
}

export function jobJsonSchema(): Json {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Ringmaster job spec',
    ...section(JOB_SCHEMA as unknown as AnySection),
  };
}
