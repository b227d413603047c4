-- Second factors: authenticators (TOTP secrets, passkeys) and single-use recovery
-- codes. Keep in step with migrations/postgres/20261123070000_mfa.sql.
--
-- An authenticator is not `enabled` while it is being enrolled (a TOTP secret
-- awaiting its first code). `secret` is a TOTP secret sealed under the
-- key-encryption key; `credential` a serialised passkey; `last_step` the last TOTP
-- step accepted (replay protection).
CREATE TABLE authenticators (
    id          TEXT    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('totp', 'passkey')),
    name        TEXT    NOT NULL DEFAULT '',
    secret      BLOB,
    credential  TEXT,
    enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    last_step   INTEGER CHECK (last_step >= 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
-- A user's factors, oldest first; also serves the cascade from users.
CREATE INDEX authenticators_user_id_idx ON authenticators (user_id, created_at, id);

-- SHA-256 hashes of a user's recovery codes; `used_at` is set once, when used.
CREATE TABLE recovery_codes (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       BLOB    NOT NULL CHECK (length(hash) = 32),
    used_at    INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, hash)
) STRICT, WITHOUT ROWID;
