DROP INDEX `answers_page_idx`;--> statement-breakpoint
ALTER TABLE `answers` ADD `latest` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX `answers_latest_page_idx` ON `answers` (`user_id`,`book_id`,`page`) WHERE latest = 1;--> statement-breakpoint
DROP INDEX `programs_page_idx`;--> statement-breakpoint
ALTER TABLE `programs` ADD `latest` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX `programs_latest_page_idx` ON `programs` (`user_id`,`book_id`,`page`) WHERE latest = 1;--> statement-breakpoint
-- Mark the newest version / attempt of what is already stored.
UPDATE `answers` SET `latest` = 1 WHERE `attempt` = (SELECT MAX(b.`attempt`) FROM `answers` b WHERE b.`user_id` = `answers`.`user_id` AND b.`book_id` = `answers`.`book_id` AND b.`question` = `answers`.`question`);--> statement-breakpoint
UPDATE `programs` SET `latest` = 1 WHERE `version` = (SELECT MAX(q.`version`) FROM `programs` q WHERE q.`user_id` = `programs`.`user_id` AND q.`book_id` = `programs`.`book_id` AND q.`activity` = `programs`.`activity`);
