ALTER TABLE "webhook_deliveries" ADD COLUMN "redelivery_of" uuid;--> statement-breakpoint
CREATE INDEX "jobs_tenant_finished_idx" ON "jobs" USING btree ("tenant","finished_at");