import { type ConversionConfig, type JsonSchema, toJsonSchema } from '@valibot/to-json-schema';
import type * as v from 'valibot';

/**
 * How valibot schemas become JSON Schema, for /v1/job-types and the OpenAPI document alike:
 * draft 2020-12 (OpenAPI 3.1's dialect); pipes with transforms (query strings parsed to
 * numbers and lists) are documented by what the client sends; checks that JSON Schema cannot
 * express (custom predicates) are left out rather than failing the conversion.
 */
export const jsonSchemaConfig = {
  target: 'draft-2020-12',
  typeMode: 'ignore',
  errorMode: 'ignore',
} as const satisfies ConversionConfig;

/** The JSON Schema (draft 2020-12) of what `schema` accepts. */
export function toInputJsonSchema(schema: v.GenericSchema): JsonSchema {
  return toJsonSchema(schema, jsonSchemaConfig);
}

/** A part of an input schema that JSON Schema cannot express, by its path in a submit body. */
export interface SchemaGap {
  /** e.g. `data.when`, `data.tags[]`, `data.byId.*` */
  path: string;
  /** The converter's reason, e.g. `The "date" schema cannot be converted to JSON Schema.` */
  message: string;
}

/**
 * The parts of `schema` that have no JSON Schema form (a date, a bigint, a Map, a custom
 * schema, a literal that is not JSON): the API could not validate them, so a worker
 * refuses such a type at start. Checks inside a pipe that JSON Schema cannot state (a
 * `check`, a transform) are not gaps: the API validates the rest, the worker all of it.
 */
export function jsonSchemaGaps(schema: v.GenericSchema): SchemaGap[] {
  const failing = new Map<object, string[]>();
  toJsonSchema(schema, {
    ...jsonSchemaConfig,
    overrideSchema: ({ valibotSchema, errors }) => {
      if (errors) failing.set(valibotSchema, errors);
      return undefined;
    },
  });
  if (failing.size === 0) return [];
  const gaps: SchemaGap[] = [];
  const seen = new Set<object>();
  const excused = new Set<object>();
  // The converter names the schema, not where it is: find each failing one's path.
  const walk = (node: unknown, path: string): void => {
    if (typeof node !== 'object' || node === null || seen.has(node)) return;
    seen.add(node);
    const s = node as Record<string, unknown>;
    if (!excused.has(node)) for (const message of failing.get(node) ?? []) gaps.push({ path, message });
    if (isRecord(s.entries))
      for (const [key, entry] of Object.entries(s.entries)) walk(entry, `${path}.${key}`);
    if (s.rest) walk(s.rest, `${path}.*`);
    if (s.item) walk(s.item, `${path}[]`);
    if (Array.isArray(s.items)) for (const [i, item] of s.items.entries()) walk(item, `${path}[${i}]`);
    if (s.wrapped) walk(s.wrapped, path);
    if (Array.isArray(s.options)) for (const option of s.options) walk(option, path);
    if (s.type === 'record') {
      walk(s.key, `${path} (keys)`);
      walk(s.value, `${path}.*`);
    }
    if (Array.isArray(s.pipe)) {
      const schemas = s.pipe.filter((item) => isRecord(item) && item.kind === 'schema');
      // A pipe of several schemas has a form if one of them has (plainRecord: a custom
      // "is a plain object" check, then a record).
      if (schemas.some((item) => !failing.has(item))) for (const item of schemas) excused.add(item);
      for (const item of schemas) walk(item, path);
    }
    if (s.type === 'lazy' && typeof s.getter === 'function') walk(s.getter(undefined), path);
  };
  walk(schema, 'data');
  return gaps;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
