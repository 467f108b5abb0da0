CREATE TABLE "grid_summaries" (
	"user_id" text NOT NULL,
	"book_id" text NOT NULL,
	"gen" integer NOT NULL,
	"built_gen" integer DEFAULT -1 NOT NULL,
	"toc_at" bigint,
	"last_at" bigint,
	"chapters" text,
	"grades" text,
	CONSTRAINT "grid_summaries_user_id_book_id_pk" PRIMARY KEY("user_id","book_id")
);
--> statement-breakpoint
ALTER TABLE "grid_summaries" ADD CONSTRAINT "grid_summaries_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "grid_summaries" ADD CONSTRAINT "grid_summaries_book_id_books_id_fk" FOREIGN KEY ("book_id") REFERENCES "books"("id") ON DELETE cascade ON UPDATE no action;