import { errorCodes } from '@conveyor/core/errors';
import { submitJobBody, toInputJsonSchema } from '@conveyor/core/jobs';
import { createScheduleBody, updateScheduleBody } from '@conveyor/core/schedules';
import { createWebhookBody, updateWebhookBody } from '@conveyor/core/webhooks';
import { testingJobs } from '@conveyor/dev/testing-jobs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { statusByCode } from '../errors/problem.js';
import { fixedJobTypeRegistry } from '../job-types/job-type-registry.js';
import { createOpenApiDocument, toOpenApiPath } from './openapi-document.js';
import { operations } from './operations.js';

const definitions = testingJobs;
const registry = await fixedJobTypeRegistry(definitions);
const document = createOpenApiDocument({ registry, operations });
type Schema = Record<string, unknown>;
const schemas = document.components.schemas as Record<string, Schema>;

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document whose references all resolve', async () => {
    const validator = new Validator();
    // A copy: resolveRefs() replaces references in place.
    const result = await validator.validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(() => validator.resolveRefs()).not.toThrow();
    // A dangling reference is caught, so the check above means something.
    const broken = structuredClone(document);
    (broken.components.schemas as Record<string, unknown>).JobView = { $ref: '#/components/schemas/Nope' };
    const brokenValidator = new Validator();
    await brokenValidator.validate(broken);
    expect(() => brokenValidator.resolveRefs()).toThrow();
  });

  it("includes each job type's data schema, converted from the schema the API validates with", () => {
    for (const definition of definitions) {
      const { $schema: _, ...expected } = toInputJsonSchema(definition.input);
      expect(schemas[`JobInput.${definition.name}`], definition.name).toEqual(expected);
      expect(schemas[`SubmitJob.${definition.name}`]).toMatchObject({
        properties: {
          type: { const: definition.name },
          data: { $ref: `#/components/schemas/JobInput.${definition.name}` },
        },
        additionalProperties: false,
      });
    }
    expect(schemas.SubmitJob).toMatchObject({ discriminator: { propertyName: 'type' } });
    expect((schemas.SubmitJob?.oneOf as unknown[] | undefined)?.length).toBe(registry.names().length);
    // Every field of the real submit body is there, with its limits.
    const variant = schemas['SubmitJob.test.progress']?.properties as Record<string, Schema>;
    expect(Object.keys(variant).sort()).toEqual(Object.keys(submitJobBody.entries).sort());
    expect(variant.priority).toMatchObject({ type: 'integer', minimum: 1, maximum: 2_097_152 });
    expect(schemas['SubmitJob.test.progress']?.required).toEqual(['type', 'data']);
    expect(schemas['SubmitJob.test.hang']?.required).toEqual(['type']);
    // Expiry and callbackUrl are part of every variant.
    expect(variant.ttlMs).toMatchObject({ type: 'integer', minimum: 1, description: expect.any(String) });
    expect(variant.expiresAt).toMatchObject({ type: 'string', format: 'date-time' });
    expect(variant.callbackUrl).toMatchObject({ type: 'string', format: 'uri', maxLength: 2_048 });
  });

  it('documents the schedule and webhook bodies as the schemas their routes validate with', () => {
    const bodies = {
      CreateSchedule: [createScheduleBody, '/v1/schedules', 'post'],
      UpdateSchedule: [updateScheduleBody, '/v1/schedules/{id}', 'patch'],
      CreateWebhook: [createWebhookBody, '/v1/webhooks', 'post'],
      UpdateWebhook: [updateWebhookBody, '/v1/webhooks/{id}', 'patch'],
    } as const;
    for (const [name, [schema, path, method]] of Object.entries(bodies)) {
      const { $schema: _, ...expected } = toInputJsonSchema(schema);
      expect(schemas[name], name).toEqual(expected);
      expect(document.paths[path]?.[method]).toMatchObject({
        requestBody: {
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } },
        },
      });
    }
    expect(schemas.CreateSchedule?.required).toEqual(['type']);
    expect(Object.keys(schemas.CreateSchedule?.properties as Schema)).toEqual(
      expect.arrayContaining(['cron', 'tz', 'everyMs', 'ttlMs', 'callbackUrl']),
    );
  });

  it("states each /v1 route's declared scope; every route is declared under its operationId", () => {
    for (const spec of operations.filter((o) => o.path.startsWith('/v1/'))) {
      expect(spec.scope, `${spec.method} ${spec.path}`).toBeDefined();
      const documented = document.paths[toOpenApiPath(spec.path)]?.[spec.method];
      expect(documented).toMatchObject({ 'x-required-scope': spec.scope, security: [{ apiKey: [] }] });
    }
    expect(new Set(operations.map((o) => o.operationId)).size).toBe(operations.length);
    expect(operations.find((o) => o.path === '/v1/jobs/:id/deliveries')?.scope).toBe('admin');
    expect(operations.filter((o) => !o.path.startsWith('/v1/')).every((o) => o.scope === undefined)).toBe(
      true,
    );
  });

  it('documents problem+json answers with the codes each status carries', () => {
    const responses = document.components.responses as Record<
      string,
      { description: string; content: Schema }
    >;
    for (const code of errorCodes) {
      const status = statusByCode[code];
      const response = responses[`Problem${status}`];
      if (!response) continue;
      expect(response.description).toContain(code);
      expect(response.content).toHaveProperty('application/problem+json');
    }
    expect(Object.keys(responses)).toEqual(
      expect.arrayContaining([
        'Problem400',
        'Problem401',
        'Problem403',
        'Problem404',
        'Problem409',
        'Problem415',
      ]),
    );
    const submit = document.paths['/v1/jobs']?.post as { responses: Record<string, unknown> };
    expect(Object.keys(submit.responses)).toEqual(
      expect.arrayContaining(['202', '200', '400', '401', '403', '409', '413', '415', '429', '503']),
    );
  });

  it('turns Hono route templates into OpenAPI paths', () => {
    expect(toOpenApiPath('/v1/jobs/:id/cancel')).toBe('/v1/jobs/{id}/cancel');
    expect(toOpenApiPath('/v1/queues/:name/pause')).toBe('/v1/queues/{name}/pause');
  });
});
