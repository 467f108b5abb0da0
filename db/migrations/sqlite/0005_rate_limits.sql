CREATE TABLE `rate_limits` (
	`key` text PRIMARY KEY NOT NULL,
	`count` integer NOT NULL,
	`reset_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `rate_limits_reset_idx` ON `rate_limits` (`reset_at`);--> statement-breakpoint
ALTER TABLE `book_origins` ADD `position` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Origins added before this migration keep the order they were added in (SQLite's rowid).
UPDATE `book_origins` SET `position` = `rowid`;