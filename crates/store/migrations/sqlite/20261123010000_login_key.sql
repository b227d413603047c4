-- The login key of a user (email, else username), indexed for prefix listings
-- (`GET /api/users/{pattern}`). Keep in step with migrations/postgres/20261123010000_login_key.sql.
-- ALTER TABLE can only add a VIRTUAL generated column; the index stores its values.
-- BINARY collation compares UTF-8 bytes, i.e. code-point order.

ALTER TABLE users ADD COLUMN login_key TEXT GENERATED ALWAYS AS (COALESCE(email, username)) VIRTUAL;
CREATE INDEX users_login_key_idx ON users (login_key);
