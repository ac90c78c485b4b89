ALTER TABLE "jobs" ADD COLUMN "tags" text[];--> statement-breakpoint
-- IF NOT EXISTS: on a large history, build them first with CREATE INDEX CONCURRENTLY (docs/scaling.md).
CREATE INDEX IF NOT EXISTS "jobs_tags_idx" ON "jobs" USING gin ("tags");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "jobs_metadata_idx" ON "jobs" USING gin ("metadata" jsonb_path_ops);
