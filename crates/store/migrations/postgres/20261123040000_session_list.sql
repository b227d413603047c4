-- Listings of live sessions (`Store::query_sessions`): one index per order, with
-- and without a user filter. Keep in step with
-- migrations/sqlite/20261123040000_session_list.sql.
-- Partial on `revoked_at IS NULL`: listings read only live sessions, and a
-- revoked session leaves these indexes. `(user_id, id)` also serves the walk of
-- each user's sessions when listing by email.

CREATE INDEX sessions_live_created_at_idx ON sessions (created_at, id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_live_expires_at_idx ON sessions (expires_at, id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_live_user_id_idx ON sessions (user_id, id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_live_user_created_at_idx ON sessions (user_id, created_at, id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_live_user_expires_at_idx ON sessions (user_id, expires_at, id) WHERE revoked_at IS NULL;
