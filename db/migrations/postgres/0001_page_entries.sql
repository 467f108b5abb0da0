-- Each latest attempt keeps its entry in the page state, written with it (db/work.ts): the answers of a page state
-- are then put together from them instead of built row by row. Rows written before stay NULL and are built when read.
ALTER TABLE "answers" ADD COLUMN "page_entry" text;