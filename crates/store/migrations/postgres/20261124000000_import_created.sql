-- The rows of an import that created a user, one record per committed batch
-- (see import_plan.rs): the batch's first such row, its commit time, and every
-- such row's number and user id, packed (24 bytes a row). Failed and skipped rows
-- keep their own reports in import_rows, and so do the created rows of batches
-- committed before this migration.
--
-- No foreign key to import_jobs, as for import_rows (20261123060000): a batch
-- writes its record before its turn, and the key-share lock of the key check
-- would hold claimants (FOR UPDATE SKIP LOCKED) off the job until the batch ends.
-- Jobs are not deleted, and a batch holds its job's row when it commits.
CREATE TABLE import_created (
    job_id     UUID        NOT NULL,
    first_row  BIGINT      NOT NULL CHECK (first_row >= 1),
    created_at TIMESTAMPTZ NOT NULL,
    packed     BYTEA       NOT NULL CHECK (length(packed) > 0 AND length(packed) % 24 = 0),
    PRIMARY KEY (job_id, first_row)
);
-- Row numbers and ids barely compress: store them out of line as they are.
ALTER TABLE import_created ALTER COLUMN packed SET STORAGE EXTERNAL;

-- Nor from user_identifiers to users: its check is a query and a key-share lock
-- of the user's row for every identifier written, a fifth of a bulk import's
-- time. The store writes identifiers only with their user, in one transaction,
-- and deleting a user deletes them (postgres/users.rs, after the user's row is
-- locked, so that an update committing meanwhile leaves none behind).
ALTER TABLE user_identifiers DROP CONSTRAINT user_identifiers_user_id_fkey;
