CREATE TABLE "lti_scores" (
	"user_id" text NOT NULL,
	"lineitem" text NOT NULL,
	"issuer" text NOT NULL,
	"client_id" text NOT NULL,
	"deployment_id" text NOT NULL,
	"sub" text NOT NULL,
	"resource_link_id" text NOT NULL,
	"scopes" text NOT NULL,
	"book_id" text NOT NULL,
	"page" text NOT NULL,
	"course_id" text,
	"score_given" double precision NOT NULL,
	"score_maximum" double precision NOT NULL,
	"activity_progress" text NOT NULL,
	"grading_progress" text NOT NULL,
	"changed_at" bigint NOT NULL,
	"pending" smallint NOT NULL,
	"attempts" integer NOT NULL,
	"next_attempt_at" bigint,
	"last_error" text,
	"sent_at" bigint,
	"created_at" bigint NOT NULL,
	CONSTRAINT "lti_scores_user_id_lineitem_pk" PRIMARY KEY("user_id","lineitem")
);
--> statement-breakpoint
ALTER TABLE "lti_contexts" ADD COLUMN "memberships_url" text;--> statement-breakpoint
ALTER TABLE "lti_scores" ADD CONSTRAINT "lti_scores_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lti_scores" ADD CONSTRAINT "lti_scores_course_id_courses_id_fk" FOREIGN KEY ("course_id") REFERENCES "courses"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "lti_scores_owner_idx" ON "lti_scores" USING btree ("user_id","book_id");--> statement-breakpoint
CREATE INDEX "lti_scores_pending_idx" ON "lti_scores" USING btree ("pending","next_attempt_at");--> statement-breakpoint
CREATE INDEX "lti_scores_course_idx" ON "lti_scores" USING btree ("course_id");