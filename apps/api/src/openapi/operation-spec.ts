import * as v from 'valibot';
import type { Scope } from '../auth/principal.js';
import type { UiAsset } from '../ui/ui-assets.js';

/**
 * How a route declares its contract, next to its handler (see routes/declare-routes.ts): its
 * path, the scope it needs, the schemas it validates with and answers with, and its words
 * in the OpenAPI document. The document and the scope check are both made from it.
 */

/** One documented answer of an operation. */
export interface ResponseSpec {
  description: string;
  /** The body's schema; none for an empty body. */
  schema?: v.GenericSchema;
  /** The content type, or several when the route serves files of different kinds. @defaultValue application/json */
  mediaType?: string | readonly string[];
  /** Response headers worth knowing, by name. */
  headers?: Record<string, string>;
}

/**
 * One route of the API as the OpenAPI document shows it. Schemas are the valibot schemas the
 * route validates with (or answers with); the document is generated from them. Problem
 * answers are listed by status: their codes come from the one code→status table.
 */
export interface OperationSpec {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** The Hono route template, e.g. `/v1/jobs/:id`. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  /** The scope the route needs; absent: public (no API key). */
  scope?: Scope;
  pathParams?: Record<string, { description: string; schema: v.GenericSchema }>;
  /** An object schema: each entry is one query parameter. */
  query?: v.ObjectSchema<v.ObjectEntries, undefined> | v.StrictObjectSchema<v.ObjectEntries, undefined>;
  headers?: Record<string, { description: string; schema: v.GenericSchema }>;
  /** A JSON body; `submit`, `batch` and `flow` are built per job type from the registry. */
  body?: v.GenericSchema | 'submit' | 'batch' | 'flow';
  responses: Record<number, ResponseSpec>;
  /** Statuses answered with problem+json, besides those every /v1 route and every body may get. */
  problems?: number[];
}

export const jobIdParam = {
  id: { description: 'The job id (a UUID).', schema: v.pipe(v.string(), v.uuid()) },
};
export const queueNameParam = {
  name: { description: 'A queue name from GET /v1/queues.', schema: v.string() },
};
export const scheduleIdParam = {
  id: { description: 'The schedule id (a UUID).', schema: v.pipe(v.string(), v.uuid()) },
};
export const webhookIdParam = {
  id: { description: 'The webhook id (a UUID).', schema: v.pipe(v.string(), v.uuid()) },
};
/** The distinct content types of a set of served files. */
export const contentTypes = (assets: Record<string, UiAsset>) => [
  ...new Set(Object.values(assets).map((a) => a.contentType.split(';')[0] ?? a.contentType)),
];
export const sse = (description: string): ResponseSpec => ({
  description,
  mediaType: 'text/event-stream',
  schema: v.string(),
});
