CREATE TABLE `course_staff` (
	`course_id` text NOT NULL,
	`user_id` text NOT NULL,
	`role` text NOT NULL,
	`added_at` integer NOT NULL,
	PRIMARY KEY(`course_id`, `user_id`),
	FOREIGN KEY (`course_id`) REFERENCES `courses`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `course_staff_user_idx` ON `course_staff` (`user_id`);--> statement-breakpoint
CREATE TABLE `courses` (
	`id` text PRIMARY KEY NOT NULL,
	`book_id` text NOT NULL,
	`title` text NOT NULL,
	`term` text,
	`join_code` text NOT NULL,
	`open` integer DEFAULT true NOT NULL,
	`starts_at` integer,
	`ends_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`book_id`) REFERENCES `books`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `courses_join_code_unique` ON `courses` (`join_code`);--> statement-breakpoint
CREATE INDEX `courses_book_idx` ON `courses` (`book_id`);--> statement-breakpoint
CREATE TABLE `enrolments` (
	`course_id` text NOT NULL,
	`user_id` text NOT NULL,
	`via` text NOT NULL,
	`enrolled_at` integer NOT NULL,
	PRIMARY KEY(`course_id`, `user_id`),
	FOREIGN KEY (`course_id`) REFERENCES `courses`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `enrolments_user_idx` ON `enrolments` (`user_id`);--> statement-breakpoint
CREATE TABLE `password_links` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`expires_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `password_links_user_idx` ON `password_links` (`user_id`);--> statement-breakpoint
-- The server-wide instructor role is retired: each book with work gets a default course (id and title the book's,
-- open, with a new join code), every instructor becomes its staff, and every registered student with work in the
-- book is enrolled. `folio migrate` prints what this did (db/courses.ts, retiredInstructorRole).
INSERT INTO `courses` (`id`, `book_id`, `title`, `term`, `join_code`, `open`, `created_at`)
SELECT `b`.`id`, `b`.`id`, `b`.`title`, NULL, upper(hex(randomblob(6))), 1, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
FROM `books` `b`
WHERE EXISTS (SELECT 1 FROM `programs` WHERE `book_id` = `b`.`id`) OR EXISTS (SELECT 1 FROM `answers` WHERE `book_id` = `b`.`id`)
   OR EXISTS (SELECT 1 FROM `events` WHERE `book_id` = `b`.`id`) OR EXISTS (SELECT 1 FROM `page_completions` WHERE `book_id` = `b`.`id`)
   OR EXISTS (SELECT 1 FROM `positions` WHERE `book_id` = `b`.`id`);
--> statement-breakpoint
INSERT INTO `course_staff` (`course_id`, `user_id`, `role`, `added_at`)
SELECT `c`.`id`, `u`.`id`, 'instructor', `c`.`created_at` FROM `courses` `c` CROSS JOIN `users` `u` WHERE `u`.`role` = 'instructor';
--> statement-breakpoint
INSERT INTO `enrolments` (`course_id`, `user_id`, `via`, `enrolled_at`)
SELECT `c`.`id`, `u`.`id`, 'migration', `c`.`created_at` FROM `courses` `c` CROSS JOIN `users` `u`
WHERE `u`.`role` = 'student' AND `u`.`anonymous` = 0 AND (
  EXISTS (SELECT 1 FROM `programs` WHERE `user_id` = `u`.`id` AND `book_id` = `c`.`book_id`) OR EXISTS (SELECT 1 FROM `answers` WHERE `user_id` = `u`.`id` AND `book_id` = `c`.`book_id`)
  OR EXISTS (SELECT 1 FROM `events` WHERE `user_id` = `u`.`id` AND `book_id` = `c`.`book_id`) OR EXISTS (SELECT 1 FROM `page_completions` WHERE `user_id` = `u`.`id` AND `book_id` = `c`.`book_id`)
  OR EXISTS (SELECT 1 FROM `positions` WHERE `user_id` = `u`.`id` AND `book_id` = `c`.`book_id`));
--> statement-breakpoint
UPDATE `users` SET `role` = 'student' WHERE `role` = 'instructor';
