import { randomUUID } from 'node:crypto';
import * as schema from '@conveyor/core/db';
import { createDatabase, type Database, type Db } from '@conveyor/core/db';
import { isConveyorError } from '@conveyor/core/errors';
import { createAddressGuard } from '@conveyor/core/net';
import { useTestServices } from '@conveyor/dev/testing';
import { testingJobs } from '@conveyor/dev/testing-jobs';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fixedJobTypeRegistry } from '../job-types/job-type-registry.js';
import { createWebhookService, type WebhookService } from './webhook-service.js';

const services = useTestServices();
let database: Database;
let webhooks: WebhookService;
/** Every statement the service sent, as drizzle's query logger saw it. */
const statements: string[] = [];

beforeAll(async () => {
  database = createDatabase(services.databaseUrl, { max: 2 });
  const db = drizzle({
    client: database.sql,
    schema,
    casing: 'snake_case',
    logger: { logQuery: (query) => statements.push(query) },
  }) as Db;
  webhooks = createWebhookService({
    database: { ...database, db },
    registry: await fixedJobTypeRegistry(testingJobs),
    guard: createAddressGuard([]),
  });
});
afterAll(() => database.close());
beforeEach(() => {
  statements.length = 0;
});

async function rejection(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => undefined,
    (e: unknown) => e,
  );
}

async function notFound(call: Promise<unknown>): Promise<void> {
  const error = await rejection(call);
  expect(isConveyorError(error, 'WEBHOOK_NOT_FOUND'), String(error)).toBe(true);
}

describe('PATCH of a webhook', () => {
  it('is one UPDATE: no read before it, the returned row is the answer', async () => {
    const hook = await webhooks.create('t1', { url: 'https://example.com/a', description: 'before' });
    statements.length = 0;
    const updated = await webhooks.update('t1', hook.id, { description: 'after', enabled: false });
    expect(updated).toMatchObject({ id: hook.id, description: 'after', enabled: false });
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/^update "webhooks"/);
    expect(await webhooks.get('t1', hook.id)).toMatchObject({ description: 'after', enabled: false });
  });

  it("answers 404 for an unknown id and another tenant's webhook, 400 for a non-UUID (without a query)", async () => {
    const hook = await webhooks.create('t1', { url: 'https://example.com/b', description: 'mine' });
    statements.length = 0;
    await notFound(webhooks.update('t1', randomUUID(), { description: 'x' }));
    await notFound(webhooks.update('t2', hook.id, { description: 'x' }));
    expect(statements).toHaveLength(2);
    const malformed = await rejection(webhooks.update('t1', 'not-a-uuid', { description: 'x' }));
    expect(malformed).toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'id', message: 'must be a UUID' }],
    });
    expect(statements).toHaveLength(2);
    expect(await webhooks.get('t1', hook.id)).toMatchObject({ description: 'mine' });
  });
});
