-- Bulk import: uploaded sources in chunks, jobs with their checkpoint and lease, and
-- the outcome of every row. Keep in step with migrations/sqlite/20261123050000_import.sql.

-- A source is invisible to jobs until `complete` (its upload ended); `fields` is the
-- header as a JSON array of {name, kind}.
CREATE TABLE import_sources (
    id         UUID        PRIMARY KEY,
    format     TEXT        NOT NULL CHECK (format IN ('csv', 'jsonl')),
    fields     JSONB       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(fields) = 'array'),
    size       BIGINT      NOT NULL CHECK (size >= 0),
    chunks     BIGINT      NOT NULL CHECK (chunks >= 0),
    complete   BOOLEAN     NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX import_sources_expires_at_idx ON import_sources (expires_at);

CREATE TABLE import_chunks (
    source_id UUID   NOT NULL REFERENCES import_sources (id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL,
    data      BYTEA  NOT NULL,
    PRIMARY KEY (source_id, seq)
);

-- No foreign key to the source: a source may be purged while its job's record stays.
-- `checkpoint` is the byte offset where the next unprocessed row starts. A job is
-- held by `lease_owner` (an instance) until `lease_until`.
CREATE TABLE import_jobs (
    id          UUID        PRIMARY KEY,
    name        TEXT        NOT NULL,
    source_id   UUID        NOT NULL,
    format      TEXT        NOT NULL CHECK (format IN ('csv', 'jsonl')),
    mapping     JSONB       NOT NULL,
    status      TEXT        NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    total       BIGINT      NOT NULL DEFAULT 0,
    successful  BIGINT      NOT NULL DEFAULT 0,
    failed      BIGINT      NOT NULL DEFAULT 0,
    skipped     BIGINT      NOT NULL DEFAULT 0,
    checkpoint  BIGINT      NOT NULL DEFAULT 0,
    error       TEXT,
    lease_owner UUID,
    lease_until TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
-- Claiming takes the oldest pending job.
CREATE INDEX import_jobs_status_created_at_idx ON import_jobs (status, created_at, id);

-- One row per data row of a job (numbered from 1); `user_id` is the created or
-- existing user (NULL for a failed row), with no foreign key: users may go.
CREATE TABLE import_rows (
    job_id     UUID        NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    row        BIGINT      NOT NULL,
    status     TEXT        NOT NULL CHECK (status IN ('success', 'skipped', 'failed')),
    user_id    UUID,
    message    TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, row)
);
-- The rows of one status in row order (`import/get` verbose listings).
CREATE INDEX import_rows_status_idx ON import_rows (job_id, status, row);
