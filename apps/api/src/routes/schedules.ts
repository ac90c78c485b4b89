import { createScheduleBody, updateScheduleBody } from '@conveyor/core/schedules';
import type { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { readJsonBody } from '../middleware/json-body.js';
import { scheduleIdParam } from '../openapi/operation-spec.js';
import { schedulePageSchema, scheduleViewSchema } from '../openapi/response-schemas.js';
import { listSchedulesQuery, type ScheduleService } from '../schedules/schedule-service.js';
import { tenantOf } from '../tenant.js';
import { declareRoutes, type Operations } from './declare-routes.js';

export const scheduleOperations = {
  createSchedule: {
    method: 'post',
    path: '/v1/schedules',
    operationId: 'createSchedule',
    tag: 'Schedules',
    summary: 'Create a cron or interval schedule',
    description:
      "Each run submits a job of `type` with `data` (checked against the type's schema, `JobInput.<type>`) and the given job options. Give a `cron` pattern (read in `tz`, UTC by default) or `everyMs`, optionally bounded by `startAt`, `endAt` and `limit`. Postgres holds the schedule; BullMQ's job scheduler follows it.",
    scope: 'jobs:write',
    body: createScheduleBody,
    responses: {
      201: {
        description: 'Created, with its next run times.',
        schema: scheduleViewSchema,
        headers: { Location: "The schedule's URL." },
      },
    },
  },
  listSchedules: {
    method: 'get',
    path: '/v1/schedules',
    operationId: 'listSchedules',
    tag: 'Schedules',
    summary: "The tenant's schedules, oldest first",
    scope: 'jobs:read',
    query: listSchedulesQuery,
    responses: { 200: { description: 'One page.', schema: schedulePageSchema } },
  },
  getSchedule: {
    method: 'get',
    path: '/v1/schedules/:id',
    operationId: 'getSchedule',
    tag: 'Schedules',
    summary: 'Get a schedule with its next run times and last runs',
    scope: 'jobs:read',
    pathParams: scheduleIdParam,
    responses: { 200: { description: 'The schedule, with `lastRuns`.', schema: scheduleViewSchema } },
    problems: [404],
  },
  updateSchedule: {
    method: 'patch',
    path: '/v1/schedules/:id',
    operationId: 'updateSchedule',
    tag: 'Schedules',
    summary: 'Change, pause or resume a schedule',
    description:
      'Any field of the create body; an absent field keeps its value, `null` clears an optional one, and setting `cron` drops `everyMs` (and the other way round). `{"paused": true}` pauses it.',
    scope: 'jobs:write',
    pathParams: scheduleIdParam,
    body: updateScheduleBody,
    responses: { 200: { description: 'The schedule as changed.', schema: scheduleViewSchema } },
    problems: [404],
  },
  deleteSchedule: {
    method: 'delete',
    path: '/v1/schedules/:id',
    operationId: 'deleteSchedule',
    tag: 'Schedules',
    summary: 'Delete a schedule',
    description: 'No run starts after this; jobs it already submitted are left alone.',
    scope: 'jobs:write',
    pathParams: scheduleIdParam,
    responses: { 204: { description: 'Deleted.' } },
    problems: [404],
  },
} satisfies Operations;
/** Create, list, read, change (pause, resume) and delete the schedules of the caller's tenant. */
export function scheduleRoutes({ schedules }: { schedules: ScheduleService }): Hono<ApiEnv> {
  return declareRoutes(scheduleOperations, {
    createSchedule: async (c) => {
      const schedule = await schedules.create(tenantOf(c), await readJsonBody(c));
      c.header('Location', schedule.links.self);
      return c.json(schedule, 201);
    },
    listSchedules: async (c) => c.json(await schedules.list(tenantOf(c), c.req.query())),
    getSchedule: async (c) => c.json(await schedules.get(tenantOf(c), c.req.param('id') ?? '')),
    updateSchedule: async (c) =>
      c.json(await schedules.update(tenantOf(c), c.req.param('id') ?? '', await readJsonBody(c))),
    deleteSchedule: async (c) => {
      await schedules.remove(tenantOf(c), c.req.param('id') ?? '');
      return c.body(null, 204);
    },
  });
}
