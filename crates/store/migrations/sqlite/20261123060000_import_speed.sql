-- Cheaper bulk writes (issue 5). Keep in step with migrations/postgres/20261123060000_import_speed.sql.
--
-- `user_identifiers` becomes WITHOUT ROWID: its primary key is the table, so every
-- identifier is one b-tree entry instead of a rowid row plus an index entry.
CREATE TABLE user_identifiers_new (
    identifier TEXT NOT NULL PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
INSERT INTO user_identifiers_new (identifier, user_id) SELECT identifier, user_id FROM user_identifiers;
DROP TABLE user_identifiers;
ALTER TABLE user_identifiers_new RENAME TO user_identifiers;
CREATE INDEX user_identifiers_user_id_idx ON user_identifiers (user_id);

-- Successful rows are nearly all of an import and are listed in row order from the
-- primary key; only the rare failed and skipped rows need an index of their own.
DROP INDEX import_rows_status_idx;
CREATE INDEX import_rows_unsuccessful_idx ON import_rows (job_id, status, row) WHERE status <> 'success';
