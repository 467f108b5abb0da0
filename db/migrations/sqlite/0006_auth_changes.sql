-- Every insertion, change or deletion of a session or user row, by any connection or process (the server, a
-- `folio` command, a sqlite3 shell), counts one in change_counters 'auth': the server remembers session look-ups
-- only while that count stays where it was (db/sessions.ts). SQLite only: PostgreSQL looks sessions up each time.
CREATE TRIGGER `sessions_insert_counted` AFTER INSERT ON `sessions` BEGIN
  INSERT INTO `change_counters` (`name`, `value`) VALUES ('auth', 1) ON CONFLICT (`name`) DO UPDATE SET `value` = `value` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `sessions_update_counted` AFTER UPDATE ON `sessions` BEGIN
  INSERT INTO `change_counters` (`name`, `value`) VALUES ('auth', 1) ON CONFLICT (`name`) DO UPDATE SET `value` = `value` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `sessions_delete_counted` AFTER DELETE ON `sessions` BEGIN
  INSERT INTO `change_counters` (`name`, `value`) VALUES ('auth', 1) ON CONFLICT (`name`) DO UPDATE SET `value` = `value` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `users_insert_counted` AFTER INSERT ON `users` BEGIN
  INSERT INTO `change_counters` (`name`, `value`) VALUES ('auth', 1) ON CONFLICT (`name`) DO UPDATE SET `value` = `value` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `users_update_counted` AFTER UPDATE ON `users` BEGIN
  INSERT INTO `change_counters` (`name`, `value`) VALUES ('auth', 1) ON CONFLICT (`name`) DO UPDATE SET `value` = `value` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `users_delete_counted` AFTER DELETE ON `users` BEGIN
  INSERT INTO `change_counters` (`name`, `value`) VALUES ('auth', 1) ON CONFLICT (`name`) DO UPDATE SET `value` = `value` + 1;
END;
