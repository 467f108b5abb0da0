CREATE TABLE `lti_scores` (
	`user_id` text NOT NULL,
	`lineitem` text NOT NULL,
	`issuer` text NOT NULL,
	`client_id` text NOT NULL,
	`deployment_id` text NOT NULL,
	`sub` text NOT NULL,
	`resource_link_id` text NOT NULL,
	`scopes` text NOT NULL,
	`book_id` text NOT NULL,
	`page` text NOT NULL,
	`course_id` text,
	`score_given` real NOT NULL,
	`score_maximum` real NOT NULL,
	`activity_progress` text NOT NULL,
	`grading_progress` text NOT NULL,
	`changed_at` integer NOT NULL,
	`pending` integer NOT NULL,
	`attempts` integer NOT NULL,
	`next_attempt_at` integer,
	`last_error` text,
	`sent_at` integer,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`user_id`, `lineitem`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`course_id`) REFERENCES `courses`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `lti_scores_owner_idx` ON `lti_scores` (`user_id`,`book_id`);--> statement-breakpoint
CREATE INDEX `lti_scores_pending_idx` ON `lti_scores` (`pending`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `lti_scores_course_idx` ON `lti_scores` (`course_id`);--> statement-breakpoint
ALTER TABLE `lti_contexts` ADD `memberships_url` text;