CREATE TABLE `book_tocs` (
	`book_id` text PRIMARY KEY NOT NULL,
	`toc` text NOT NULL,
	`imported_at` integer NOT NULL,
	FOREIGN KEY (`book_id`) REFERENCES `books`(`id`) ON UPDATE no action ON DELETE cascade
);
