-- Each latest attempt and version keeps its entry in the page state, written with it (db/work.ts): a page state is
-- then put together from them instead of built row by row. Rows written before stay NULL and are built when read.
ALTER TABLE `answers` ADD `page_entry` text;--> statement-breakpoint
ALTER TABLE `programs` ADD `page_entry` text;