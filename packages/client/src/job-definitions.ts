// Types only: the client takes its job types from the caller's own definitions, and
// `import type` keeps @conveyor/sdk and valibot out of its runtime import graph.
import type { JobDefinition } from '@conveyor/sdk';
import type * as v from 'valibot';

/**
 * The job types a client submits: the definitions a project's worker runs, as a list
 * (`[resize, thumbnail] as const`) or an object (`{ resize, thumbnail }`).
 */
export type JobDefinitions = readonly JobDefinition[] | Readonly<Record<string, JobDefinition>>;

/** What a client without a type argument submits: any type name, data the API validates. */
export type UntypedJobs = readonly JobDefinition[];

/** The union of the definitions in `J`. */
export type DefinitionOf<J extends JobDefinitions> = J extends readonly (infer D)[] ? D : J[keyof J];

/** The name of a job type in `J`; `string` for an untyped client. */
export type TypeName<J extends JobDefinitions> = DefinitionOf<J>['name'];

/** The data a client sends for type `T` of `J`: its schema's input, before defaults apply. */
export type SubmitData<J extends JobDefinitions, T extends TypeName<J>> =
  DefinitionOf<J> extends infer D
    ? D extends JobDefinition
      ? T extends D['name']
        ? v.InferInput<D['input']>
        : never
      : never
    : never;
