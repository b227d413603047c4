-- The login key of a user (email, else username), indexed for prefix listings
-- (`GET /api/users/{pattern}`). Keep in step with migrations/sqlite/20261123010000_login_key.sql.
-- The index uses the "C" collation so that ranges and order are byte (code-point)
-- order whatever the database's default collation; queries must say
-- `login_key COLLATE "C"` to use it.

ALTER TABLE users ADD COLUMN login_key TEXT GENERATED ALWAYS AS (COALESCE(email, username)) STORED;
CREATE INDEX users_login_key_idx ON users (login_key COLLATE "C");
