-- The scopes granted to the OpenID client of a session (space-separated; empty
-- for aegis's own sessions). Keep in step with the other backend's migration.
ALTER TABLE sessions ADD COLUMN scope TEXT NOT NULL DEFAULT '';
