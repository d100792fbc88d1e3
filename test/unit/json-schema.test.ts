/** The job spec's JSON Schema for editors (jobs/json-schema.ts), checked with a JSON Schema validator (Ajv, draft 2020-12). */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { jobJsonSchema } from '../../jobs/json-schema.js';

const schema = jobJsonSchema();
const validate = new Ajv2020({ strict: false }).compile(schema);
const jobs = readdirSync('jobs').filter((f) => f.endsWith('.yaml'));

describe('the job spec\'s JSON Schema', () => {
  it.each(jobs)('accepts the example job %s', (file) => {
    expect(validate(parse(readFileSync(path.join('jobs', file), 'utf8'))), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each([
    ['an unknown key', { name: 'x', model: { kind: 'mlp' }, epochs: 1, colour: 'red' }],
    ['a wrong type', { name: 'x', model: { kind: 'mlp' }, steps: 'many' }],
    ['a number out of range', { name: 'x', model: { kind: 'mlp' }, parallel: { pipeline: 0 } }],
    ['a key of another model kind', { name: 'x', model: { kind: 'gpt', hidden: [8] } }],
    ['a gpt without its kind named', { name: 'x', model: { layers: 4 } }],
    ['a bad name', { name: '-x', model: { kind: 'mlp' } }],
    ['no name', { model: { kind: 'mlp' } }],
  ])('refuses %s', (_, spec) => {
    expect(validate(spec)).toBe(false);
  });

  it('gives each key its description and default, as the validator fills it', () => {
    const parallel = (schema.properties as Record<string, { properties: Record<string, { default: unknown; description: string }> }>).parallel;
    expect(parallel.properties.pipeline).toMatchObject({ type: 'integer', minimum: 1, maximum: 256, default: 1 });
    expect(parallel.properties.pipeline.description).toMatch(/^pipeline stages per replica/);
    expect(parallel.properties.stages).toMatchObject({ default: null, anyOf: [{ type: 'array' }, { type: 'null' }] });
  });
});
