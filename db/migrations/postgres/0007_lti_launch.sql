CREATE TABLE "lti_contexts" (
	"issuer" text NOT NULL,
	"deployment_id" text NOT NULL,
	"context_id" text NOT NULL,
	"book_id" text NOT NULL,
	"course_id" text NOT NULL,
	"created_at" bigint NOT NULL,
	CONSTRAINT "lti_contexts_issuer_deployment_id_context_id_book_id_pk" PRIMARY KEY("issuer","deployment_id","context_id","book_id")
);
--> statement-breakpoint
CREATE TABLE "lti_states" (
	"id" text PRIMARY KEY NOT NULL,
	"nonce" text NOT NULL,
	"issuer" text NOT NULL,
	"client_id" text NOT NULL,
	"target_link_uri" text NOT NULL,
	"expires_at" bigint NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "lti_users" (
	"issuer" text NOT NULL,
	"sub" text NOT NULL,
	"user_id" text NOT NULL,
	"created_at" bigint NOT NULL,
	CONSTRAINT "lti_users_issuer_sub_pk" PRIMARY KEY("issuer","sub")
);
--> statement-breakpoint
ALTER TABLE "lti_contexts" ADD CONSTRAINT "lti_contexts_course_id_courses_id_fk" FOREIGN KEY ("course_id") REFERENCES "courses"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lti_users" ADD CONSTRAINT "lti_users_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "lti_contexts_course_idx" ON "lti_contexts" USING btree ("course_id");--> statement-breakpoint
CREATE INDEX "lti_states_expires_idx" ON "lti_states" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "lti_users_user_idx" ON "lti_users" USING btree ("user_id");