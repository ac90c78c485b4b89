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
