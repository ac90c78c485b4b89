ALTER TABLE "jobs" ADD COLUMN "timeout_ms" integer;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "attempt_limit" integer;