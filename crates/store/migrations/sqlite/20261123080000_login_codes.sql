-- One-time login codes (Pangea `client/userinfo`): issued after a hosted login,
-- exchanged once for tokens of the session that login opened. Keep in step with
-- migrations/postgres/20261123080000_login_codes.sql.
--
-- `hash` is the SHA-256 of the code; `used_at` is set once, when exchanged.
CREATE TABLE login_codes (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
-- Serve the cascades from sessions and users.
CREATE INDEX login_codes_session_id_idx ON login_codes (session_id);
CREATE INDEX login_codes_user_id_idx ON login_codes (user_id);
