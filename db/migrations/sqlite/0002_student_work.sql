CREATE TABLE `answers` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` text NOT NULL,
	`book_id` text NOT NULL,
	`question` text NOT NULL,
	`attempt` integer NOT NULL,
	`kind` text NOT NULL,
	`answer` text NOT NULL,
	`correct` integer,
	`score` real,
	`page` text,
	`saved_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`book_id`) REFERENCES `books`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `answers_attempt_idx` ON `answers` (`user_id`,`book_id`,`question`,`attempt`);--> statement-breakpoint
CREATE INDEX `answers_page_idx` ON `answers` (`user_id`,`book_id`,`page`,`question`,`attempt`);--> statement-breakpoint
CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` text NOT NULL,
	`book_id` text NOT NULL,
	`type` text NOT NULL,
	`target` text,
	`page` text,
	`data` text,
	`client_time` integer,
	`server_time` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`book_id`) REFERENCES `books`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `events_book_time_idx` ON `events` (`book_id`,`server_time`);--> statement-breakpoint
CREATE INDEX `events_user_idx` ON `events` (`user_id`,`book_id`);--> statement-breakpoint
CREATE TABLE `page_completions` (
	`user_id` text NOT NULL,
	`book_id` text NOT NULL,
	`page` text NOT NULL,
	`completed_at` integer NOT NULL,
	PRIMARY KEY(`user_id`, `book_id`, `page`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`book_id`) REFERENCES `books`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `positions` (
	`user_id` text NOT NULL,
	`book_id` text NOT NULL,
	`page` text NOT NULL,
	`scroll` real,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`user_id`, `book_id`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`book_id`) REFERENCES `books`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `programs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` text NOT NULL,
	`book_id` text NOT NULL,
	`activity` text NOT NULL,
	`version` integer NOT NULL,
	`code` text NOT NULL,
	`language` text,
	`page` text,
	`saved_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`book_id`) REFERENCES `books`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `programs_version_idx` ON `programs` (`user_id`,`book_id`,`activity`,`version`);--> statement-breakpoint
CREATE INDEX `programs_page_idx` ON `programs` (`user_id`,`book_id`,`page`,`activity`,`version`);