-- Storage quotas (FOLIO_QUOTA_*): what each user stores, kept by the writes (db/work.ts); counted here from the rows
-- already stored. And the page state's cap (FOLIO_PAGE_STATE_MAX_BYTES): each program version's entry size, in the
-- page index, so that a save sums its page's size from the index alone.
CREATE TABLE `user_usage` (
	`user_id` text PRIMARY KEY NOT NULL,
	`versions` integer DEFAULT 0 NOT NULL,
	`events` integer DEFAULT 0 NOT NULL,
	`bytes` integer DEFAULT 0 NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
INSERT INTO `user_usage` (`user_id`, `versions`, `events`, `bytes`)
SELECT user_id, SUM(v), SUM(e), SUM(b) FROM (
  SELECT user_id, COUNT(*) AS v, 0 AS e, SUM(octet_length(code)) AS b FROM programs GROUP BY user_id
  UNION ALL SELECT user_id, COUNT(*), 0, SUM(octet_length(answer)) FROM answers GROUP BY user_id
  UNION ALL SELECT user_id, 0, COUNT(*), COALESCE(SUM(octet_length(data)), 0) FROM events GROUP BY user_id
) GROUP BY user_id;
--> statement-breakpoint
DROP INDEX `programs_latest_page_idx`;--> statement-breakpoint
ALTER TABLE `programs` ADD `state_bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
UPDATE `programs` SET `state_bytes` = octet_length(json_quote(code)) + 2 * octet_length(json_quote(activity)) + octet_length(json_quote(language)) + octet_length(json_quote(page)) + 101 WHERE latest = 1;--> statement-breakpoint
CREATE INDEX `programs_latest_page_idx` ON `programs` (`user_id`,`book_id`,`page`,`state_bytes`) WHERE latest = 1;
