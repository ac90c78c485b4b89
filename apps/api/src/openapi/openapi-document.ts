import { type ErrorCode, errorCodes } from '@conveyor/core/errors';
import {
  childFailurePolicies,
  jsonSchemaConfig,
  MAX_BATCH_SIZE,
  submitBatchBody,
  submitJobBody,
} from '@conveyor/core/jobs';
import { createScheduleBody, updateScheduleBody } from '@conveyor/core/schedules';
import { createWebhookBody, updateWebhookBody } from '@conveyor/core/webhooks';
import {
  type ConversionConfig,
  type JsonSchema,
  toJsonSchema,
  toJsonSchemaDefs,
} from '@valibot/to-json-schema';
import * as v from 'valibot';
import { PROBLEM_CONTENT_TYPE, statusByCode } from '../errors/problem.js';
import type { JobTypeRegistry } from '../job-types/job-type-registry.js';
import { wsClientMessage } from '../routes/ws.js';
import type { OperationSpec, ResponseSpec } from './operation-spec.js';
import {
  apiKeyInfoSchema,
  batchItemSchema,
  createdWebhookSchema,
  deliveryAttemptSchema,
  deliveryViewSchema,
  errorRecordSchema,
  fieldIssueSchema,
  flowViewSchema,
  jobViewSchema,
  problemSchema,
  queueInfoSchema,
  scheduleRunSchema,
  scheduleViewSchema,
  statusEventSchema,
  submitJobResponseSchema,
  webhookViewSchema,
} from './response-schemas.js';

/** An OpenAPI 3.1 document, as plain JSON. */
export type OpenApiDocument = Record<string, unknown> & {
  openapi: '3.1.0';
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: Record<string, Record<string, unknown>>;
};

/** Problem statuses every authenticated /v1 route may answer. */
const V1_PROBLEMS = [401, 403, 429, 500, 503];
/** Problem statuses of every route that reads a JSON body. */
const BODY_PROBLEMS = [400, 413, 415];

const problemTitles: Record<number, string> = {
  400: 'The request is invalid; `errors` lists every bad field.',
  401: 'No valid API key or token.',
  403: "The key lacks the route's scope.",
  404: "No such job, queue, key, schedule, webhook or route (another tenant's is also a 404).",
  405: 'Method not allowed.',
  409: 'Conflicts with the current state (finished job, same id with a different body, …).',
  413: 'The body is larger than BODY_LIMIT_BYTES.',
  415: 'The body is not application/json.',
  429: "Rate limit (Retry-After) or the tenant's in-flight cap reached.",
  500: 'Internal error; details are logged, never shown.',
  503: 'Redis or Postgres is unavailable, or the request timed out: retry shortly.',
};

/** `/v1/jobs/:id` → `/v1/jobs/{id}` */
export function toOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function codesFor(status: number): ErrorCode[] {
  return errorCodes.filter((code) => statusByCode[code] === status);
}

/** Drops what a standalone conversion adds that a schema embedded in the document must not have. */
function embedded(schema: JsonSchema): JsonSchema {
  const { $schema: _schema, $defs: _defs, ...rest } = schema as JsonSchema & { $defs?: unknown };
  return rest;
}

/**
 * Generates the OpenAPI 3.1 document of the API from the valibot schemas the routes
 * validate with and answer with, with one submit variant per registered job type (its
 * `data` schema included). Nothing in it is written by hand but the prose.
 *
 * @example
 * app.get('/openapi.json', (c) => c.json(createOpenApiDocument({ registry })));
 */
export function createOpenApiDocument({
  registry,
  operations,
  version = '1.0.0',
}: {
  registry: JobTypeRegistry;
  /** Every route's declaration (openapi/operations.ts gathers them). */
  operations: readonly OperationSpec[];
  /** @defaultValue '1.0.0' */
  version?: string;
}): OpenApiDocument {
  // One submit body per job type: the real submit schema with `type` fixed and `data` the type's own schema.
  // A type's input is the JSON Schema its workers registered: each stands in the valibot
  // tree as a placeholder that the conversion replaces by that schema.
  const registered = new Map<v.GenericSchema, JsonSchema>();
  const perType = registry.definitions().map((definition) => {
    const input = v.unknown();
    registered.set(input, definition.inputSchema as JsonSchema);
    const variant = v.strictObject({
      ...submitJobBody.entries,
      type: v.pipe(v.literal(definition.name), v.description(definition.description)),
      data: definition.inputOptional ? v.optional(input) : input,
    });
    return { name: definition.name, input, variant };
  });
  const submitJob = v.variant(
    'type',
    perType.map((t) => t.variant),
  );
  // A flow node: a type's submit body with its children (flow nodes again) and onFailure.
  const flowChildren = v.unknown();
  registered.set(flowChildren, {
    type: 'array',
    items: { $ref: '#/components/schemas/SubmitFlow' },
    description: 'Jobs this one waits for; each may have children of its own.',
  } as JsonSchema);
  const perTypeFlow = perType.map((t) =>
    v.strictObject({
      ...t.variant.entries,
      children: v.optional(flowChildren),
      onFailure: v.optional(
        v.pipe(
          v.picklist(childFailurePolicies),
          v.description(
            'On a child: what its failure does to its parent. `fail` (default): the parent fails (CHILD_FAILED) unrun; `ignore`: the parent runs and sees it; `remove`: the parent runs without it.',
          ),
        ),
      ),
    }),
  );
  const submitFlow = v.variant('type', perTypeFlow);
  const submitBatch = v.strictObject({
    ...submitBatchBody.entries,
    jobs: v.pipe(v.array(submitJob), v.minLength(1), v.maxLength(MAX_BATCH_SIZE)),
  });

  const definitions: Record<string, v.GenericSchema> = {
    SubmitJob: submitJob,
    SubmitJobBatch: submitBatch,
    SubmitFlow: submitFlow,
    FlowView: flowViewSchema,
    ...Object.fromEntries(perType.map((t) => [`SubmitJob.${t.name}`, t.variant])),
    ...Object.fromEntries(perType.map((t) => [`JobInput.${t.name}`, t.input])),
    SubmitJobResponse: submitJobResponseSchema,
    BatchItem: batchItemSchema,
    JobView: jobViewSchema,
    ErrorRecord: errorRecordSchema,
    QueueInfo: queueInfoSchema,
    ApiKeyInfo: apiKeyInfoSchema,
    CreateSchedule: createScheduleBody,
    UpdateSchedule: updateScheduleBody,
    Schedule: scheduleViewSchema,
    ScheduleRun: scheduleRunSchema,
    CreateWebhook: createWebhookBody,
    UpdateWebhook: updateWebhookBody,
    Webhook: webhookViewSchema,
    CreatedWebhook: createdWebhookSchema,
    Delivery: deliveryViewSchema,
    DeliveryAttempt: deliveryAttemptSchema,
    StatusEvent: statusEventSchema,
    Problem: problemSchema,
    FieldIssue: fieldIssueSchema,
    // Sent over /v1/ws, which has no request body to document it.
    WsClientMessage: wsClientMessage,
  };
  const config: ConversionConfig = {
    ...jsonSchemaConfig,
    overrideSchema: ({ valibotSchema }) => registered.get(valibotSchema),
    overrideRef: ({ referenceId }) => `#/components/schemas/${referenceId}`,
  };
  const convert = (schema: v.GenericSchema): JsonSchema =>
    embedded(toJsonSchema(schema, { ...config, definitions }));

  const schemas = Object.fromEntries(
    Object.entries(toJsonSchemaDefs(definitions, config)).map(([name, schema]) => [name, embedded(schema)]),
  );
  const submitSchema = schemas.SubmitJob as Record<string, unknown>;
  submitSchema.discriminator = {
    propertyName: 'type',
    mapping: Object.fromEntries(perType.map((t) => [t.name, `#/components/schemas/SubmitJob.${t.name}`])),
  };

  const problemStatuses = new Set<number>();
  const response = ({ description, schema, mediaType = 'application/json', headers }: ResponseSpec) => ({
    description,
    ...(schema
      ? {
          content: Object.fromEntries(
            (typeof mediaType === 'string' ? [mediaType] : mediaType).map((type) => [
              type,
              { schema: convert(schema) },
            ]),
          ),
        }
      : {}),
    ...(headers
      ? {
          headers: Object.fromEntries(
            Object.entries(headers).map(([name, text]) => [
              name,
              { description: text, schema: { type: 'string' } },
            ]),
          ),
        }
      : {}),
  });

  function operation(spec: OperationSpec): Record<string, unknown> {
    const parameters: Record<string, unknown>[] = [];
    for (const [name, param] of Object.entries(spec.pathParams ?? {})) {
      parameters.push({
        name,
        in: 'path',
        required: true,
        description: param.description,
        schema: convert(param.schema),
      });
    }
    for (const [name, entry] of Object.entries(spec.query?.entries ?? {})) {
      const schema = convert(entry);
      const { description, ...rest } = schema as JsonSchema & { description?: string };
      parameters.push({
        name,
        in: 'query',
        required: entry.type !== 'optional',
        ...(description ? { description } : {}),
        schema: rest,
      });
    }
    for (const [name, header] of Object.entries(spec.headers ?? {})) {
      parameters.push({
        name,
        in: 'header',
        required: false,
        description: header.description,
        schema: convert(header.schema),
      });
    }
    const problems = new Set([
      ...(spec.scope ? V1_PROBLEMS : []),
      ...(spec.body ? BODY_PROBLEMS : []),
      ...(spec.query || spec.pathParams ? [400] : []),
      ...(spec.problems ?? []),
    ]);
    for (const status of problems) problemStatuses.add(status);
    const body =
      spec.body === 'submit'
        ? { $ref: '#/components/schemas/SubmitJob' }
        : spec.body === 'batch'
          ? { $ref: '#/components/schemas/SubmitJobBatch' }
          : spec.body === 'flow'
            ? { $ref: '#/components/schemas/SubmitFlow' }
            : spec.body
              ? convert(spec.body)
              : undefined;
    const responses: Record<string, unknown> = {};
    for (const [status, answer] of Object.entries(spec.responses)) responses[status] = response(answer);
    for (const status of [...problems].sort((a, b) => a - b)) {
      if (!(String(status) in responses))
        responses[status] = { $ref: `#/components/responses/Problem${status}` };
    }
    return {
      operationId: spec.operationId,
      tags: [spec.tag],
      summary: spec.summary,
      ...(spec.description || spec.scope
        ? {
            description: [spec.description, spec.scope ? `Needs the \`${spec.scope}\` scope.` : undefined]
              .filter(Boolean)
              .join('\n\n'),
          }
        : {}),
      security: spec.scope ? [{ apiKey: [] }] : [],
      ...(spec.scope ? { 'x-required-scope': spec.scope } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(body ? { requestBody: { required: true, content: { 'application/json': { schema: body } } } } : {}),
      responses,
    };
  }

  const paths: OpenApiDocument['paths'] = {};
  for (const spec of operations) {
    const path = toOpenApiPath(spec.path);
    paths[path] ??= {};
    paths[path][spec.method] = operation(spec);
  }

  const responses = Object.fromEntries(
    [...problemStatuses]
      .sort((a, b) => a - b)
      .map((status) => {
        const codes = codesFor(status);
        return [
          `Problem${status}`,
          {
            description: `${problemTitles[status] ?? 'Error.'}${codes.length > 0 ? ` Codes: ${codes.join(', ')}.` : ''}`,
            content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } },
          },
        ];
      }),
  );

  return {
    openapi: '3.1.0',
    info: {
      title: 'Conveyor API',
      version,
      description:
        'Submit jobs over HTTP and follow them to a result. Errors are RFC 9457 problem+json with a stable `code`. Every /v1 route needs `Authorization: Bearer <API key or JWT>`.',
    },
    tags: [...new Set(operations.map((o) => o.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      responses,
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key (`cvk_…`) or, when configured, a JWT.',
        },
      },
    },
  };
}
