-- Second factors: authenticators (TOTP secrets, passkeys) and single-use recovery
-- codes. Keep in step with migrations/sqlite/20261123070000_mfa.sql.
--
-- An authenticator is not `enabled` while it is being enrolled (a TOTP secret
-- awaiting its first code). `secret` is a TOTP secret sealed under the
-- key-encryption key; `credential` a serialised passkey; `last_step` the last TOTP
-- step accepted (replay protection).
CREATE TABLE authenticators (
    id          UUID        PRIMARY KEY,
    user_id     UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT        NOT NULL CHECK (kind IN ('totp', 'passkey')),
    name        TEXT        NOT NULL DEFAULT '',
    secret      BYTEA,
    credential  TEXT,
    enabled     BOOLEAN     NOT NULL,
    last_step   BIGINT      CHECK (last_step >= 0),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
-- A user's factors, oldest first; also serves the cascade from users.
CREATE INDEX authenticators_user_id_idx ON authenticators (user_id, created_at, id);

-- SHA-256 hashes of a user's recovery codes; `used_at` is set once, when used.
CREATE TABLE recovery_codes (
    user_id    UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       BYTEA       NOT NULL CHECK (octet_length(hash) = 32),
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, hash)
);
