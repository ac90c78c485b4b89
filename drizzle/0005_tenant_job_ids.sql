-- Job ids belong to their tenant: the terminal row is keyed by (tenant, id), so another
-- tenant's job of the same id is a row of its own (issue 14).
ALTER TABLE "jobs" DROP CONSTRAINT "jobs_pkey";--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_pkey" PRIMARY KEY("tenant","id");
