CREATE TABLE "queue_limits" (
	"queue" text PRIMARY KEY NOT NULL,
	"rate_max" integer,
	"rate_duration_ms" integer,
	"concurrency" integer,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
