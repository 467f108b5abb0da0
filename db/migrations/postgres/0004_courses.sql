CREATE TABLE "course_staff" (
	"course_id" text NOT NULL,
	"user_id" text NOT NULL,
	"role" text NOT NULL,
	"added_at" bigint NOT NULL,
	CONSTRAINT "course_staff_course_id_user_id_pk" PRIMARY KEY("course_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "courses" (
	"id" text PRIMARY KEY NOT NULL,
	"book_id" text NOT NULL,
	"title" text NOT NULL,
	"term" text,
	"join_code" text NOT NULL,
	"open" smallint DEFAULT 1 NOT NULL,
	"starts_at" bigint,
	"ends_at" bigint,
	"created_at" bigint NOT NULL,
	CONSTRAINT "courses_join_code_unique" UNIQUE("join_code")
);
--> statement-breakpoint
CREATE TABLE "enrolments" (
	"course_id" text NOT NULL,
	"user_id" text NOT NULL,
	"via" text NOT NULL,
	"enrolled_at" bigint NOT NULL,
	CONSTRAINT "enrolments_course_id_user_id_pk" PRIMARY KEY("course_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "password_links" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"expires_at" bigint NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "course_staff" ADD CONSTRAINT "course_staff_course_id_courses_id_fk" FOREIGN KEY ("course_id") REFERENCES "courses"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "course_staff" ADD CONSTRAINT "course_staff_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "courses" ADD CONSTRAINT "courses_book_id_books_id_fk" FOREIGN KEY ("book_id") REFERENCES "books"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrolments" ADD CONSTRAINT "enrolments_course_id_courses_id_fk" FOREIGN KEY ("course_id") REFERENCES "courses"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrolments" ADD CONSTRAINT "enrolments_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "password_links" ADD CONSTRAINT "password_links_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "course_staff_user_idx" ON "course_staff" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "courses_book_idx" ON "courses" USING btree ("book_id");--> statement-breakpoint
CREATE INDEX "enrolments_user_idx" ON "enrolments" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "password_links_user_idx" ON "password_links" USING btree ("user_id");
--> statement-breakpoint
-- The server-wide instructor role is retired: each book with work gets a default course (id and title the book's,
-- open, with a new join code), every instructor becomes its staff, and every registered student with work in the
-- book is enrolled. "folio migrate" prints what this did (db/courses.ts, retiredInstructorRole).
INSERT INTO "courses" ("id", "book_id", "title", "term", "join_code", "open", "created_at")
SELECT "b"."id", "b"."id", "b"."title", NULL, upper(substr(replace(gen_random_uuid()::text, '-', ''), 1, 12)), 1, (extract(epoch from clock_timestamp()) * 1000)::bigint
FROM "books" "b"
WHERE EXISTS (SELECT 1 FROM "programs" WHERE "book_id" = "b"."id") OR EXISTS (SELECT 1 FROM "answers" WHERE "book_id" = "b"."id")
   OR EXISTS (SELECT 1 FROM "events" WHERE "book_id" = "b"."id") OR EXISTS (SELECT 1 FROM "page_completions" WHERE "book_id" = "b"."id")
   OR EXISTS (SELECT 1 FROM "positions" WHERE "book_id" = "b"."id");
--> statement-breakpoint
INSERT INTO "course_staff" ("course_id", "user_id", "role", "added_at")
SELECT "c"."id", "u"."id", 'instructor', "c"."created_at" FROM "courses" "c" CROSS JOIN "users" "u" WHERE "u"."role" = 'instructor';
--> statement-breakpoint
INSERT INTO "enrolments" ("course_id", "user_id", "via", "enrolled_at")
SELECT "c"."id", "u"."id", 'migration', "c"."created_at" FROM "courses" "c" CROSS JOIN "users" "u"
WHERE "u"."role" = 'student' AND "u"."anonymous" = 0 AND (
  EXISTS (SELECT 1 FROM "programs" WHERE "user_id" = "u"."id" AND "book_id" = "c"."book_id") OR EXISTS (SELECT 1 FROM "answers" WHERE "user_id" = "u"."id" AND "book_id" = "c"."book_id")
  OR EXISTS (SELECT 1 FROM "events" WHERE "user_id" = "u"."id" AND "book_id" = "c"."book_id") OR EXISTS (SELECT 1 FROM "page_completions" WHERE "user_id" = "u"."id" AND "book_id" = "c"."book_id")
  OR EXISTS (SELECT 1 FROM "positions" WHERE "user_id" = "u"."id" AND "book_id" = "c"."book_id"));
--> statement-breakpoint
UPDATE "users" SET "role" = 'student' WHERE "role" = 'instructor';
