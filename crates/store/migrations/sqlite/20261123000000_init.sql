-- Initial schema (SQLite). Timestamps are unix microseconds, UUIDs hyphenated text,
-- booleans 0/1. Keep in step with migrations/postgres/20261123000000_init.sql.

CREATE TABLE users (
    num_id           INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL UNIQUE,
    username         TEXT    NOT NULL UNIQUE,
    email            TEXT    UNIQUE,
    password_hash    TEXT,
    profile          TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(profile) AND json_type(profile) = 'object'),
    role             TEXT    NOT NULL CHECK (role IN ('admin', 'view', 'user')),
    active           INTEGER NOT NULL CHECK (active IN (0, 1)),
    verified         INTEGER NOT NULL CHECK (verified IN (0, 1)),
    password_expired INTEGER NOT NULL CHECK (password_expired IN (0, 1)),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    last_login_at    INTEGER,
    last_login_ip    TEXT,
    login_count      INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Every username and email, so that the two are unique across each other.
CREATE TABLE user_identifiers (
    identifier TEXT NOT NULL PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE
) STRICT;
CREATE INDEX user_identifiers_user_id_idx ON user_identifiers (user_id);

CREATE TABLE sessions (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE TABLE api_tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    hash         BLOB    NOT NULL UNIQUE,
    owner_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Deleting a user deletes the tokens they own or created.
    created_by   TEXT    REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('admin', 'view', 'user')),
    name         TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER
) STRICT;
CREATE INDEX api_tokens_provider_created_at_idx ON api_tokens (provider, created_at);
CREATE INDEX api_tokens_owner_id_idx ON api_tokens (owner_id);
CREATE INDEX api_tokens_created_by_idx ON api_tokens (created_by);

CREATE TABLE signing_keys (
    kid             TEXT    NOT NULL PRIMARY KEY,
    algorithm       TEXT    NOT NULL,
    public_key      BLOB    NOT NULL,
    private_key_enc BLOB    NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;

-- first_failure_at is NULL for a key locked without counted failures.
CREATE TABLE login_throttle (
    key              TEXT    NOT NULL PRIMARY KEY,
    failures         INTEGER NOT NULL,
    first_failure_at INTEGER,
    locked_until     INTEGER
) STRICT;
