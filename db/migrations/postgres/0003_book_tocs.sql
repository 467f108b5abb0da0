CREATE TABLE "book_tocs" (
	"book_id" text PRIMARY KEY NOT NULL,
	"toc" text NOT NULL,
	"imported_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "book_tocs" ADD CONSTRAINT "book_tocs_book_id_books_id_fk" FOREIGN KEY ("book_id") REFERENCES "books"("id") ON DELETE cascade ON UPDATE no action;