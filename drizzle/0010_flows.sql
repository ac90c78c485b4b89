CREATE TABLE "flows" (
	"id" uuid NOT NULL,
	"tenant" text NOT NULL,
	"nodes" jsonb NOT NULL,
	"idempotency_key" text,
	"request_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "flows_pkey" PRIMARY KEY("tenant","id")
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "flow_id" uuid;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "parent_id" uuid;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "child_ids" jsonb;--> statement-breakpoint
CREATE INDEX "flows_created_idx" ON "flows" USING btree ("created_at");--> statement-breakpoint
-- IF NOT EXISTS: on a large history, build it first with CREATE INDEX CONCURRENTLY (docs/flows.md).
CREATE INDEX IF NOT EXISTS "jobs_tenant_flow_idx" ON "jobs" USING btree ("tenant","flow_id") WHERE "jobs"."flow_id" is not null;