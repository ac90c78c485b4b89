// Job statuses without dependencies: the subpath the client and CLI import at runtime,
// so they never load BullMQ, ioredis, Postgres or pino through the `jobs` barrel.
export * from '../jobs/job-status.js';
