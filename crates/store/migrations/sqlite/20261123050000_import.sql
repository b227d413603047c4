-- Bulk import: uploaded sources in chunks, jobs with their checkpoint and lease, and
-- the outcome of every row. Keep in step with migrations/postgres/20261123050000_import.sql.

-- A source is invisible to jobs until `complete` (its upload ended); `fields` is the
-- header as a JSON array of {name, kind}.
CREATE TABLE import_sources (
    id         TEXT    NOT NULL PRIMARY KEY,
    format     TEXT    NOT NULL CHECK (format IN ('csv', 'jsonl')),
    fields     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(fields) AND json_type(fields) = 'array'),
    size       INTEGER NOT NULL CHECK (size >= 0),
    chunks     INTEGER NOT NULL CHECK (chunks >= 0),
    complete   INTEGER NOT NULL CHECK (complete IN (0, 1)),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX import_sources_expires_at_idx ON import_sources (expires_at);

-- Chunks are up to 1 MiB: a rowid table keeps them out of the key's b-tree pages
-- (a WITHOUT ROWID table suits small rows only).
CREATE TABLE import_chunks (
    source_id TEXT    NOT NULL REFERENCES import_sources (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    PRIMARY KEY (source_id, seq)
) STRICT;

-- No foreign key to the source: a source may be purged while its job's record stays.
-- `checkpoint` is the byte offset where the next unprocessed row starts. A job is
-- held by `lease_owner` (an instance) until `lease_until`.
CREATE TABLE import_jobs (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    source_id   TEXT    NOT NULL,
    format      TEXT    NOT NULL CHECK (format IN ('csv', 'jsonl')),
    mapping     TEXT    NOT NULL CHECK (json_valid(mapping)),
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    total       INTEGER NOT NULL DEFAULT 0,
    successful  INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    checkpoint  INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    lease_owner TEXT,
    lease_until INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
-- Claiming takes the oldest pending job.
CREATE INDEX import_jobs_status_created_at_idx ON import_jobs (status, created_at, id);

-- One row per data row of a job (numbered from 1); `user_id` is the created or
-- existing user (NULL for a failed row), with no foreign key: users may go.
CREATE TABLE import_rows (
    job_id     TEXT    NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    row        INTEGER NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('success', 'skipped', 'failed')),
    user_id    TEXT,
    message    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, row)
) STRICT, WITHOUT ROWID;
-- The rows of one status in row order (`import/get` verbose listings).
CREATE INDEX import_rows_status_idx ON import_rows (job_id, status, row);
