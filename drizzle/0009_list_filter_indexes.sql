CREATE INDEX IF NOT EXISTS "jobs_tenant_type_created_idx" ON "jobs" USING btree ("tenant","type","created_at" DESC NULLS LAST,"id");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "jobs_tenant_status_created_idx" ON "jobs" USING btree ("tenant","status","created_at" DESC NULLS LAST,"id");--> statement-breakpoint
-- The hourly prune deletes a day of rows at a time: vacuum once 2 % of the table is dead, not the default 20 % (up to six days of deleted rows kept as bloat).
ALTER TABLE "jobs" SET (autovacuum_vacuum_scale_factor = 0.02);
