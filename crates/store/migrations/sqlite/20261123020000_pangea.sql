-- Pangea AuthN: phone and password age on users, groups and memberships, and the
-- indexes behind every keyset listing of users (`Store::query_users`).
-- Keep in step with migrations/postgres/20261123020000_pangea.sql.
-- BINARY collation compares UTF-8 bytes, i.e. code-point order; NULLs sort first in
-- an index, and the queries read the NULL and non-NULL keys as separate ranges.

ALTER TABLE users ADD COLUMN phone TEXT;
-- When the current password was set; NULL when the user has none.
ALTER TABLE users ADD COLUMN password_set_at INTEGER;
UPDATE users SET password_set_at = created_at WHERE password_hash IS NOT NULL;

CREATE INDEX users_created_at_idx ON users (created_at, id);
CREATE INDEX users_last_login_at_idx ON users (last_login_at, id);
CREATE INDEX users_last_login_ip_idx ON users (last_login_ip, id);
CREATE INDEX users_login_count_idx ON users (login_count, id);
CREATE INDEX users_email_idx ON users (email, id);

-- name_key is the case-folded name (aegis_core::identity::fold), unique.
CREATE TABLE groups (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL,
    description TEXT,
    attributes  TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(attributes) AND json_type(attributes) = 'object'),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE user_groups (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id   TEXT    NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, group_id)
) STRICT;
-- The members of a group, in user id order.
CREATE INDEX user_groups_group_id_idx ON user_groups (group_id, user_id);
