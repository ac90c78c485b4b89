CREATE TABLE "jobs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant" text DEFAULT 'default' NOT NULL,
	"type" text NOT NULL,
	"queue" text NOT NULL,
	"status" text NOT NULL,
	"input" jsonb,
	"result" jsonb,
	"error" jsonb,
	"attempt_errors" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"attempts" integer NOT NULL,
	"max_attempts" integer NOT NULL,
	"runs" integer DEFAULT 1 NOT NULL,
	"priority" integer,
	"metadata" jsonb,
	"progress" jsonb,
	"idempotency_key" text,
	"created_at" timestamp with time zone NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "jobs_status_check" CHECK ("jobs"."status" in ('completed', 'failed', 'cancelled', 'expired'))
);
--> statement-breakpoint
CREATE INDEX "jobs_tenant_created_idx" ON "jobs" USING btree ("tenant","created_at" DESC NULLS LAST,"id");--> statement-breakpoint
CREATE INDEX "jobs_finished_idx" ON "jobs" USING btree ("finished_at");--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_tenant_idempotency_key_idx" ON "jobs" USING btree ("tenant","idempotency_key") WHERE "jobs"."idempotency_key" is not null;