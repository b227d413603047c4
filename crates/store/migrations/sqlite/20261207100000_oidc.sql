-- The OpenID Connect provider: registered clients (relying parties), the
-- consents users gave them, authorization codes, and the client a session was
-- opened for. Keep in step with migrations/postgres/20261207100000_oidc.sql.
--
-- Lists are JSON arrays of strings. `secret_hash` is the SHA-256 of the client
-- secret (none for public clients); a code's `hash` is the SHA-256 of the code
-- and its `used_at` is set once, when exchanged.
CREATE TABLE oidc_clients (
    id                        TEXT    NOT NULL PRIMARY KEY,
    name                      TEXT    NOT NULL,
    secret_hash               BLOB    CHECK (secret_hash IS NULL OR length(secret_hash) = 32),
    redirect_uris             TEXT    NOT NULL CHECK (json_valid(redirect_uris) AND json_type(redirect_uris) = 'array'),
    post_logout_redirect_uris TEXT    NOT NULL CHECK (json_valid(post_logout_redirect_uris) AND json_type(post_logout_redirect_uris) = 'array'),
    grants                    TEXT    NOT NULL CHECK (json_valid(grants) AND json_type(grants) = 'array'),
    public                    INTEGER NOT NULL CHECK (public IN (0, 1)),
    first_party               INTEGER NOT NULL CHECK (first_party IN (0, 1)),
    id_token_alg              TEXT    NOT NULL CHECK (id_token_alg IN ('RS256', 'EdDSA', 'ES256')),
    jwks                      TEXT,
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL
) STRICT;

CREATE TABLE oidc_consents (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;
-- Serves the cascade from clients.
CREATE INDEX oidc_consents_client_id_idx ON oidc_consents (client_id);

CREATE TABLE oidc_codes (
    hash           BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    client_id      TEXT    NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id     TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    redirect_uri   TEXT    NOT NULL,
    scopes         TEXT    NOT NULL CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    nonce          TEXT,
    code_challenge TEXT,
    auth_time      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
) STRICT;
-- Serve the cascades from clients, users and sessions.
CREATE INDEX oidc_codes_client_id_idx ON oidc_codes (client_id);
CREATE INDEX oidc_codes_user_id_idx ON oidc_codes (user_id);
CREATE INDEX oidc_codes_session_id_idx ON oidc_codes (session_id);

-- The client a session was opened for; NULL for aegis's own sign-ins. Not a
-- foreign key: deleting a client revokes its sessions and keeps them (revoked,
-- they still say whose they were) until they are purged. The store checks the
-- client exists when it inserts such a session.
ALTER TABLE sessions ADD COLUMN client_id TEXT;
-- Serves the revocations of a client's sessions, and of one user's.
CREATE INDEX sessions_client_id_idx ON sessions (client_id, user_id) WHERE client_id IS NOT NULL;
