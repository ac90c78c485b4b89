import { createHash } from 'node:crypto';
import type { JsonSchema } from '@valibot/to-json-schema';
import * as v from 'valibot';
import { canonicalJson } from './canonical-json.js';
import type { JobDefinition, JobTypeOptions } from './define-job.js';
import { toInputJsonSchema } from './input-json-schema.js';

/**
 * A job type as a worker registers it in Postgres: everything but the code. The API reads
 * these; a type's `version` changes whenever its description, queue, options or input
 * schema do, so two releases running side by side register two versions.
 */
export interface JobTypeRegistration {
  name: string;
  /** 16 hex digits of a SHA-256 of the rest, in canonical JSON. */
  version: string;
  description: string;
  queue: string;
  options: RegisteredOptions;
  /** JSON Schema (draft 2020-12) of the type's `data`. */
  inputSchema: JsonSchema;
}

/** A type's run options as registered, and whether a submit may leave `data` out. */
export type RegisteredOptions = Omit<JobTypeOptions, 'queue'> & { inputOptional?: boolean };

/** The registration of `definition`. */
export function toRegistration(definition: JobDefinition): JobTypeRegistration {
  const {
    name,
    description,
    queue,
    timeoutMs,
    maxTimeoutMs,
    attempts,
    maxAttempts,
    backoff,
    ttlMs,
    queueLimits,
  } = definition;
  const options = {
    timeoutMs,
    maxTimeoutMs,
    attempts,
    maxAttempts,
    backoff,
    ...(ttlMs === undefined ? {} : { ttlMs }),
    ...(queueLimits === undefined ? {} : { queueLimits }),
    inputOptional: v.safeParse(definition.input, undefined).success,
  };
  const inputSchema = toInputJsonSchema(definition.input);
  const version = createHash('sha256')
    .update(canonicalJson({ name, description, queue, options, inputSchema }))
    .digest('hex')
    .slice(0, 16);
  return { name, version, description, queue, options, inputSchema };
}
