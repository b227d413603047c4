-- Pangea AuthN: phone and password age on users, groups and memberships, and the
-- indexes behind every keyset listing of users (`Store::query_users`).
-- Keep in step with migrations/sqlite/20261123020000_pangea.sql.
-- Text keys are indexed with the "C" collation so that order is byte (code-point)
-- order, as on SQLite, whatever the database's default; queries must say
-- `<column> COLLATE "C"` to use them. NULLs sort last in an ascending index, and the
-- queries read the NULL and non-NULL keys as separate ranges.

ALTER TABLE users ADD COLUMN phone TEXT;
-- When the current password was set; NULL when the user has none.
ALTER TABLE users ADD COLUMN password_set_at TIMESTAMPTZ;
UPDATE users SET password_set_at = created_at WHERE password_hash IS NOT NULL;

CREATE INDEX users_created_at_idx ON users (created_at, id);
CREATE INDEX users_last_login_at_idx ON users (last_login_at, id);
CREATE INDEX users_last_login_ip_idx ON users (last_login_ip COLLATE "C", id);
CREATE INDEX users_login_count_idx ON users (login_count, id);
CREATE INDEX users_email_idx ON users (email COLLATE "C", id);

-- name_key is the case-folded name (aegis_core::identity::fold), unique.
CREATE TABLE groups (
    id          UUID        PRIMARY KEY,
    name        TEXT        NOT NULL,
    name_key    TEXT        COLLATE "C" NOT NULL UNIQUE,
    kind        TEXT        NOT NULL,
    description TEXT,
    attributes  JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE user_groups (
    user_id    UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id   UUID        NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, group_id)
);
-- The members of a group, in user id order.
CREATE INDEX user_groups_group_id_idx ON user_groups (group_id, user_id);
