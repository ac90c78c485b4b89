ALTER TABLE "jobs" ADD COLUMN "generation" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "logs" jsonb DEFAULT '[]'::jsonb NOT NULL;