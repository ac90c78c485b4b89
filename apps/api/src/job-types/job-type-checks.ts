import { ConveyorError, type FieldIssue } from '@conveyor/core/errors';
import type { JobTypeRegistry, RegisteredJobType } from './job-type-registry.js';

/**
 * The checks a job request gets against its registered type, whether a submit, a batch item
 * or a schedule asks for it: one wording, one set of bounds.
 */

/** The registered type `name`; otherwise UNKNOWN_JOB_TYPE (400 on `type`) naming the known ones. */
export function requireJobType(registry: JobTypeRegistry, name: string): RegisteredJobType {
  const definition = registry.get(name);
  if (definition) return definition;
  const known = registry.names();
  throw new ConveyorError(
    'UNKNOWN_JOB_TYPE',
    `unknown job type "${name}"; known types: ${known.join(', ')}`,
    {
      details: { knownTypes: known },
      issues: [{ path: 'type', message: `unknown job type; known types: ${known.join(', ')}` }],
    },
  );
}

/** Issues for the job's own attempts and timeout above what its type allows. */
export function optionBoundIssues(
  definition: RegisteredJobType,
  { attempts, timeoutMs }: { attempts?: number | null | undefined; timeoutMs?: number | null | undefined },
): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (attempts != null && attempts > definition.maxAttempts) {
    issues.push({ path: 'attempts', message: `at most ${definition.maxAttempts} for ${definition.name}` });
  }
  if (timeoutMs != null && timeoutMs > definition.maxTimeoutMs) {
    issues.push({ path: 'timeoutMs', message: `at most ${definition.maxTimeoutMs} for ${definition.name}` });
  }
  return issues;
}
