-- Initial schema (PostgreSQL). Keep in step with migrations/sqlite/20261123000000_init.sql.

CREATE TABLE users (
    id               UUID        PRIMARY KEY,
    num_id           BIGINT      GENERATED ALWAYS AS IDENTITY UNIQUE,
    username         TEXT        NOT NULL UNIQUE,
    email            TEXT        UNIQUE,
    password_hash    TEXT,
    profile          JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(profile) = 'object'),
    role             TEXT        NOT NULL CHECK (role IN ('admin', 'view', 'user')),
    active           BOOLEAN     NOT NULL,
    verified         BOOLEAN     NOT NULL,
    password_expired BOOLEAN     NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    last_login_at    TIMESTAMPTZ,
    last_login_ip    TEXT,
    login_count      BIGINT      NOT NULL DEFAULT 0
);

-- Every username and email, so that the two are unique across each other.
CREATE TABLE user_identifiers (
    identifier TEXT PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX user_identifiers_user_id_idx ON user_identifiers (user_id);

CREATE TABLE sessions (
    id         UUID        PRIMARY KEY,
    user_id    UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
    hash       BYTEA       PRIMARY KEY,
    session_id UUID        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE TABLE api_tokens (
    id           UUID        PRIMARY KEY,
    hash         BYTEA       NOT NULL UNIQUE,
    owner_id     UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Deleting a user deletes the tokens they own or created.
    created_by   UUID        REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT        NOT NULL,
    role         TEXT        NOT NULL CHECK (role IN ('admin', 'view', 'user')),
    name         TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX api_tokens_provider_created_at_idx ON api_tokens (provider, created_at);
CREATE INDEX api_tokens_owner_id_idx ON api_tokens (owner_id);
CREATE INDEX api_tokens_created_by_idx ON api_tokens (created_by);

CREATE TABLE signing_keys (
    kid             TEXT        PRIMARY KEY,
    algorithm       TEXT        NOT NULL,
    public_key      BYTEA       NOT NULL,
    private_key_enc BYTEA       NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

-- first_failure_at is NULL for a key locked without counted failures.
CREATE TABLE login_throttle (
    key              TEXT        PRIMARY KEY,
    failures         INTEGER     NOT NULL,
    first_failure_at TIMESTAMPTZ,
    locked_until     TIMESTAMPTZ
);
