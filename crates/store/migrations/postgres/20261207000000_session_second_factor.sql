-- Whether a session's sign-in proved a second factor (TOTP or recovery code,
-- or a passkey). A session that replaces another keeps its original's value,
-- as it keeps the sign-in time (created_at) and the absolute end. Sessions
-- opened before this column existed count as password-only. Keep in step with
-- migrations/sqlite/20261207000000_session_second_factor.sql.
ALTER TABLE sessions ADD COLUMN second_factor BOOLEAN NOT NULL DEFAULT FALSE;
