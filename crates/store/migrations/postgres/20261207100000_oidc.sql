-- The OpenID Connect provider: registered clients (relying parties), the
-- consents users gave them, authorization codes, and the client a session was
-- opened for. Keep in step with migrations/sqlite/20261207100000_oidc.sql.
--
-- Lists are text arrays. `secret_hash` is the SHA-256 of the client secret
-- (none for public clients); a code's `hash` is the SHA-256 of the code and its
-- `used_at` is set once, when exchanged.
CREATE TABLE oidc_clients (
    id                        TEXT        PRIMARY KEY,
    name                      TEXT        NOT NULL,
    secret_hash               BYTEA       CHECK (octet_length(secret_hash) = 32),
    redirect_uris             TEXT[]      NOT NULL,
    post_logout_redirect_uris TEXT[]      NOT NULL,
    grants                    TEXT[]      NOT NULL,
    public                    BOOLEAN     NOT NULL,
    first_party               BOOLEAN     NOT NULL,
    id_token_alg              TEXT        NOT NULL CHECK (id_token_alg IN ('RS256', 'EdDSA', 'ES256')),
    jwks                      TEXT,
    created_at                TIMESTAMPTZ NOT NULL,
    updated_at                TIMESTAMPTZ NOT NULL
);

CREATE TABLE oidc_consents (
    user_id    UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT        NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    scopes     TEXT[]      NOT NULL,
    granted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
-- Serves the cascade from clients.
CREATE INDEX oidc_consents_client_id_idx ON oidc_consents (client_id);

CREATE TABLE oidc_codes (
    hash           BYTEA       PRIMARY KEY CHECK (octet_length(hash) = 32),
    client_id      TEXT        NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    user_id        UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id     UUID        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    redirect_uri   TEXT        NOT NULL,
    scopes         TEXT[]      NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    auth_time      TIMESTAMPTZ NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    used_at        TIMESTAMPTZ
);
-- Serve the cascades from clients, users and sessions.
CREATE INDEX oidc_codes_client_id_idx ON oidc_codes (client_id);
CREATE INDEX oidc_codes_user_id_idx ON oidc_codes (user_id);
CREATE INDEX oidc_codes_session_id_idx ON oidc_codes (session_id);

-- The client a session was opened for; NULL for aegis's own sign-ins. Not a
-- foreign key: deleting a client revokes its sessions and keeps them (revoked,
-- they still say whose they were) until they are purged. The store checks the
-- client exists (and holds it against deletion) when it inserts such a session.
ALTER TABLE sessions ADD COLUMN client_id TEXT;
-- Serves the revocations of a client's sessions, and of one user's.
CREATE INDEX sessions_client_id_idx ON sessions (client_id, user_id) WHERE client_id IS NOT NULL;
