-- Single-use sealed values (a passkey ceremony, a second-step ticket): the SHA-256
-- of each one used, kept until it would have expired anyway. Keep in step with
-- migrations/sqlite/20261123090000_spent_nonces.sql.
CREATE TABLE spent_nonces (
    hash       BYTEA       NOT NULL PRIMARY KEY CHECK (octet_length(hash) = 32),
    expires_at TIMESTAMPTZ NOT NULL
);
