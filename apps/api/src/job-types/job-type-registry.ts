import { appliedJobTypes, type JobTypeRow, toJobTypeRow } from '@conveyor/core/db';
import type { FieldIssue } from '@conveyor/core/errors';
import { type JobDefinition, type JobTypeOptions, toRegistration } from '@conveyor/core/jobs';
import type { Logger } from '@conveyor/core/log';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

/**
 * Terminology: a **registered type** is a job type some worker registered in Postgres
 * (`job_types`, one row per name and version). The API accepts submits for exactly these:
 * it validates `data` against the type's JSON Schema and enqueues; the worker that runs the
 * job parses it again with the type's own valibot schema.
 */
export interface RegisteredJobType extends JobTypeOptions {
  name: string;
  description: string;
  /** The version submits are validated with: see `appliedVersion` in @conveyor/core/db. */
  version: string;
  inputSchema: Record<string, unknown>;
  /** Whether a submit may leave `data` out. */
  inputOptional: boolean;
  /** Every registered version, the most recently registered first. */
  versions: { version: string; registeredAt: Date; lastSeenAt: Date }[];
  /** When a worker last said it serves the type (any version). */
  lastSeenAt: Date;
}

/** The job types workers registered, as the API applies them. */
export interface JobTypeRegistry {
  get(name: string): RegisteredJobType | undefined;
  /**
   * Like get, but reads Postgres again first for a name it does not know (a worker may have
   * just registered it); a name that stays unknown is read for again only after 250 ms.
   */
  lookup(name: string): Promise<RegisteredJobType | undefined>;
  names(): string[];
  /** Every queue some registered type uses, sorted. */
  queues(): string[];
  definitions(): readonly RegisteredJobType[];
  /** The problems of `data` against the type's schema, with paths under `path`; empty: valid. */
  validate(type: RegisteredJobType, data: unknown, path?: string): FieldIssue[];
  /** Reads the registry from Postgres. */
  refresh(): Promise<void>;
  /** Stops the periodic refresh. */
  close(): void;
}

/** How soon a name that was not registered may make a lookup read Postgres again. */
const LOOKUP_GAP_MS = 250;
/** Names remembered as unknown at most (a flood of made-up names cannot grow it). */
const MAX_MISSES = 10_000;

function issueOf(error: ErrorObject, path: string): FieldIssue {
  const at = error.instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = error.params as { missingProperty?: string; additionalProperty?: string };
  if (error.keyword === 'required' && params.missingProperty) {
    return { path: [path, ...at, params.missingProperty].join('.'), message: 'is required' };
  }
  if (error.keyword === 'additionalProperties' && params.additionalProperty) {
    return {
      path: [path, ...at, params.additionalProperty].join('.'),
      message: `unknown field "${params.additionalProperty}"`,
    };
  }
  return { path: [path, ...at].join('.'), message: error.message ?? 'is invalid' };
}

/**
 * The registry of one API process, read from Postgres at start, every `refreshMs`, and for a
 * name it does not know yet. Rows are expected newest registration first, per name. Each version's schema is compiled once (ajv, draft 2020-12).
 */
export function createJobTypeRegistry({
  read,
  logger,
  refreshMs = 5_000,
}: {
  /** Reads every registered version (readJobTypes on the API's database). */
  read: () => Promise<JobTypeRow[]>;
  logger?: Logger;
  /** @defaultValue 5 s; 0: only on start and lookups */
  refreshMs?: number;
}): JobTypeRegistry {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats.default(ajv);
  const compiled = new Map<string, ValidateFunction>();
  let byName = new Map<string, RegisteredJobType>();
  let sorted: RegisteredJobType[] = [];
  let queues: string[] = [];
  let lastRead = 0;
  let reading: Promise<void> | undefined;
  /** Unknown name → when a lookup last found it missing. Concurrent lookups share one read. */
  const misses = new Map<string, number>();

  async function load(): Promise<void> {
    const rows = await read();
    lastRead = Date.now();
    const next = new Map<string, RegisteredJobType>();
    for (const { applied: row, versions } of appliedJobTypes(rows, lastRead)) {
      const { inputOptional = false, ...options } = row.options;
      next.set(row.name, {
        name: row.name,
        description: row.description,
        queue: row.queue,
        ...options,
        version: row.version,
        inputSchema: row.inputSchema,
        inputOptional,
        versions: versions.map((r) => ({
          version: r.version,
          registeredAt: r.registeredAt,
          lastSeenAt: r.lastSeenAt,
        })),
        lastSeenAt: new Date(Math.max(...versions.map((r) => r.lastSeenAt.getTime()))),
      });
    }
    byName = next;
    sorted = [...next.values()].sort((a, b) => a.name.localeCompare(b.name));
    queues = [...new Set(sorted.map((t) => t.queue))].sort();
  }

  function refresh(): Promise<void> {
    reading ??= load().finally(() => {
      reading = undefined;
    });
    return reading;
  }

  const timer =
    refreshMs > 0
      ? setInterval(() => {
          refresh().catch((error: unknown) =>
            logger?.warn({ err: error }, 'reading the job type registry failed'),
          );
        }, refreshMs)
      : undefined;
  timer?.unref();

  function validator(type: RegisteredJobType): ValidateFunction {
    const key = `${type.name}@${type.version}`;
    let validate = compiled.get(key);
    if (!validate) {
      validate = ajv.compile(type.inputSchema);
      compiled.set(key, validate);
    }
    return validate;
  }

  return {
    get: (name) => byName.get(name),
    async lookup(name) {
      const known = byName.get(name);
      if (known) return known;
      const missed = misses.get(name);
      if (missed !== undefined && Date.now() - missed < LOOKUP_GAP_MS) return undefined;
      await refresh();
      const found = byName.get(name);
      if (found) misses.delete(name);
      else {
        if (misses.size >= MAX_MISSES) misses.clear();
        misses.set(name, Date.now());
      }
      return found;
    },
    names: () => sorted.map((t) => t.name),
    queues: () => queues,
    definitions: () => sorted,
    validate(type, data, path = 'data') {
      if (data === undefined) return type.inputOptional ? [] : [{ path, message: 'is required' }];
      const validate = validator(type);
      if (validate(data)) return [];
      const issues: FieldIssue[] = [];
      const seen = new Set<string>();
      for (const error of validate.errors ?? []) {
        const issue = issueOf(error, path);
        if (seen.has(issue.path)) continue;
        seen.add(issue.path);
        issues.push(issue);
      }
      return issues;
    },
    refresh,
    close: () => clearInterval(timer),
  };
}

/**
 * A registry of fixed definitions, as if a worker had just registered them, without
 * Postgres: for tests and for tools that render the OpenAPI document offline.
 */
export async function fixedJobTypeRegistry(definitions: readonly JobDefinition[]): Promise<JobTypeRegistry> {
  const rows = definitions.map((d) => toJobTypeRow(toRegistration(d)));
  const registry = createJobTypeRegistry({ read: async () => rows, refreshMs: 0 });
  await registry.refresh();
  return registry;
}
