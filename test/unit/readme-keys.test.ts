/**
 * The README's key table documents the job spec jobs/schema.ts declares: every key of the schema
 * has a row, and every row names keys the schema has, so neither can drift from the other. (A row
 * may group keys of one section: "`model.layers`, `heads`" is model.layers and model.heads.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JOB_SCHEMA, type AnySection, type SchemaNode } from '../../jobs/schema.js';

/** Every key path the schema accepts: fields, and each variant's kind and its variants' keys. */
function schemaKeys(node: SchemaNode, prefix: string): string[] {
  if (node.node === 'field') return [prefix];
  const at = (key: string) => (prefix ? `${prefix}.${key}` : key);
  const sections: AnySection[] = node.node === 'section' ? [node] : Object.values(node.variants);
  const keys = sections.flatMap((s) => Object.entries(s.keys).flatMap(([key, child]) => schemaKeys(child, at(key))));
  return [...new Set(node.node === 'variant' ? [at('kind'), ...keys] : keys)];
}

/** The keys the README's table documents, its rows' first cells expanded. */
function readmeKeys(): string[] {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const table = readme.slice(readme.indexOf('| key | default | meaning |'));
  const lines = table.split('\n').slice(2);
  const rows = lines.slice(0, lines.findIndex((line) => !line.startsWith('|')));
  return rows.flatMap((row) => {
    const names = [...row.split('|')[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const section = names[0]!.includes('.') ? names[0]!.slice(0, names[0]!.lastIndexOf('.') + 1) : '';
    return names.map((name, i) => (i === 0 || name.includes('.') ? name : section + name));
  });
}

describe("the README's key table", () => {
  const documented = new Set(readmeKeys());
  const declared = new Set(schemaKeys(JOB_SCHEMA as unknown as SchemaNode, ''));

  it('has a row for every key of the schema', () => {
    expect([...declared].filter((k) => !documented.has(k))).toEqual([]);
  });

  it('names only keys the schema has', () => {
    expect([...documented].filter((k) => !declared.has(k))).toEqual([]);
  });
});
