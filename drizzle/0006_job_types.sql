CREATE TABLE "job_types" (
	"name" text NOT NULL,
	"version" text NOT NULL,
	"description" text NOT NULL,
	"queue" text NOT NULL,
	"options" jsonb NOT NULL,
	"input_schema" jsonb NOT NULL,
	"registered_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "job_types_pkey" PRIMARY KEY("name","version")
);
