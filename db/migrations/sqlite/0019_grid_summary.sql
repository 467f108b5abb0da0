CREATE TABLE `grid_summaries` (
	`user_id` text NOT NULL,
	`book_id` text NOT NULL,
	`gen` integer NOT NULL,
	`built_gen` integer DEFAULT -1 NOT NULL,
	`toc_at` integer,
	`last_at` integer,
	`chapters` text,
	`grades` text,
	PRIMARY KEY(`user_id`, `book_id`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`book_id`) REFERENCES `books`(`id`) ON UPDATE no action ON DELETE cascade
);
