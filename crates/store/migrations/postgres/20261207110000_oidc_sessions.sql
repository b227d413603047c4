-- An OpenID client's session: the scopes granted to it (space-separated; empty
-- for aegis's own sessions) and the browser session it was opened from, whose
-- end (a logout) ends it too. A client's scopes: what client_credentials may
-- grant it. Keep in step with migrations/sqlite/20261207110000_oidc_sessions.sql.
ALTER TABLE sessions ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN parent_id UUID;
CREATE INDEX sessions_parent ON sessions (parent_id, client_id) WHERE parent_id IS NOT NULL;
ALTER TABLE oidc_clients ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
