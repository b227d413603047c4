-- The rows of an import that created a user, one record per committed batch
-- (see import_plan.rs): the batch's first such row, its commit time, and every
-- such row's number and user id, packed (24 bytes a row). Failed and skipped rows
-- keep their own reports in import_rows, and so do the created rows of batches
-- committed before this migration.
CREATE TABLE import_created (
    job_id     TEXT    NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    first_row  INTEGER NOT NULL CHECK (first_row >= 1),
    created_at INTEGER NOT NULL,
    packed     BLOB    NOT NULL CHECK (length(packed) > 0 AND length(packed) % 24 = 0),
    PRIMARY KEY (job_id, first_row)
) STRICT;
