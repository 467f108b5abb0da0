PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_oidc_states` (
	`id` text PRIMARY KEY NOT NULL,
	`provider_id` text NOT NULL,
	`nonce` text NOT NULL,
	`code_verifier` text NOT NULL,
	`book_id` text,
	`return_url` text NOT NULL,
	`mode` text NOT NULL,
	`user_id` text,
	`expires_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`book_id`) REFERENCES `books`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
INSERT INTO `__new_oidc_states`("id", "provider_id", "nonce", "code_verifier", "book_id", "return_url", "mode", "user_id", "expires_at", "created_at") SELECT "id", "provider_id", "nonce", "code_verifier", "book_id", "return_url", "mode", "user_id", "expires_at", "created_at" FROM `oidc_states`;--> statement-breakpoint
DROP TABLE `oidc_states`;--> statement-breakpoint
ALTER TABLE `__new_oidc_states` RENAME TO `oidc_states`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `oidc_states_expires_idx` ON `oidc_states` (`expires_at`);--> statement-breakpoint
ALTER TABLE `handoff_codes` ADD `course_id` text REFERENCES `courses`(`id`) ON UPDATE no action ON DELETE cascade;