CREATE TABLE "experiment_assignments" (
	"experiment_id" text NOT NULL,
	"user_id" text NOT NULL,
	"book_id" text NOT NULL,
	"variant" text NOT NULL,
	"page" text,
	"exposed_at" bigint NOT NULL,
	"replaced_variant" text,
	CONSTRAINT "experiment_assignments_experiment_id_user_id_pk" PRIMARY KEY("experiment_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "experiments" (
	"id" text PRIMARY KEY NOT NULL,
	"book_id" text NOT NULL,
	"variants" text NOT NULL,
	"salt" text NOT NULL,
	"courses" text,
	"starts_at" bigint,
	"ends_at" bigint,
	"consent_only" smallint DEFAULT 0 NOT NULL,
	"stopped_at" bigint,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "experiment_assignments" ADD CONSTRAINT "experiment_assignments_experiment_id_experiments_id_fk" FOREIGN KEY ("experiment_id") REFERENCES "experiments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "experiment_assignments" ADD CONSTRAINT "experiment_assignments_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "experiment_assignments" ADD CONSTRAINT "experiment_assignments_book_id_books_id_fk" FOREIGN KEY ("book_id") REFERENCES "books"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "experiments" ADD CONSTRAINT "experiments_book_id_books_id_fk" FOREIGN KEY ("book_id") REFERENCES "books"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "experiment_assignments_user_idx" ON "experiment_assignments" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "experiment_assignments_book_time_idx" ON "experiment_assignments" USING btree ("book_id","exposed_at");--> statement-breakpoint
CREATE INDEX "experiments_book_idx" ON "experiments" USING btree ("book_id");