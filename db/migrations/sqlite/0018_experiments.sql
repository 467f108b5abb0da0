CREATE TABLE `experiment_assignments` (
	`experiment_id` text NOT NULL,
	`user_id` text NOT NULL,
	`book_id` text NOT NULL,
	`variant` text NOT NULL,
	`page` text,
	`exposed_at` integer NOT NULL,
	`replaced_variant` text,
	PRIMARY KEY(`experiment_id`, `user_id`),
	FOREIGN KEY (`experiment_id`) REFERENCES `experiments`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`book_id`) REFERENCES `books`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `experiment_assignments_user_idx` ON `experiment_assignments` (`user_id`);--> statement-breakpoint
CREATE INDEX `experiment_assignments_book_time_idx` ON `experiment_assignments` (`book_id`,`exposed_at`);--> statement-breakpoint
CREATE TABLE `experiments` (
	`id` text PRIMARY KEY NOT NULL,
	`book_id` text NOT NULL,
	`variants` text NOT NULL,
	`salt` text NOT NULL,
	`courses` text,
	`starts_at` integer,
	`ends_at` integer,
	`consent_only` integer DEFAULT false NOT NULL,
	`stopped_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`book_id`) REFERENCES `books`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `experiments_book_idx` ON `experiments` (`book_id`);