CREATE TABLE `lti_contexts` (
	`issuer` text NOT NULL,
	`deployment_id` text NOT NULL,
	`context_id` text NOT NULL,
	`book_id` text NOT NULL,
	`course_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`issuer`, `deployment_id`, `context_id`, `book_id`),
	FOREIGN KEY (`course_id`) REFERENCES `courses`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `lti_contexts_course_idx` ON `lti_contexts` (`course_id`);--> statement-breakpoint
CREATE TABLE `lti_states` (
	`id` text PRIMARY KEY NOT NULL,
	`nonce` text NOT NULL,
	`issuer` text NOT NULL,
	`client_id` text NOT NULL,
	`target_link_uri` text NOT NULL,
	`expires_at` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `lti_states_expires_idx` ON `lti_states` (`expires_at`);--> statement-breakpoint
CREATE TABLE `lti_users` (
	`issuer` text NOT NULL,
	`sub` text NOT NULL,
	`user_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`issuer`, `sub`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `lti_users_user_idx` ON `lti_users` (`user_id`);