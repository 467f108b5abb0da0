DROP INDEX `events_user_idx`;--> statement-breakpoint
CREATE INDEX `events_user_time_idx` ON `events` (`user_id`,`book_id`,`server_time`);--> statement-breakpoint
CREATE INDEX `answers_book_time_idx` ON `answers` (`book_id`,`saved_at`);--> statement-breakpoint
CREATE INDEX `page_completions_book_time_idx` ON `page_completions` (`book_id`,`completed_at`);--> statement-breakpoint
CREATE INDEX `programs_book_time_idx` ON `programs` (`book_id`,`saved_at`);