//! Bulk import: sources in chunks, jobs with their lease and checkpoint, and the
//! batches that create users and record every row.
//!
//! A batch is written with one statement per table, each row's values bound as
//! arrays and read back with `UNNEST`, whatever the batch's size.

use std::collections::HashMap;

use aegis_core::identity::Email;
use aegis_core::import::{
    Batch, Counters, ImportJob, ImportSource, JobStatus, Mapping, RowReport, RowStatus,
    SourceField, Turn,
};
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::convert::{chunks, job_status, row_status, source_format, unsigned};
use crate::error::{internal, is_unique_violation, DbResultExt};
use crate::import_plan::{self, stored, CountersRow, CreatedRows, Plan};

/// Attempts at a batch that a concurrent write made clash (see [`commit_batch`]).
const ATTEMPTS: usize = 5;

#[derive(sqlx::FromRow)]
struct SourceRow {
    id: Uuid,
    format: String,
    fields: Json<Vec<SourceField>>,
    size: i64,
    chunks: i64,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl SourceRow {
    fn into_source(self) -> Result<ImportSource> {
        Ok(ImportSource {
            id: self.id,
            format: source_format(&self.format)?,
            fields: self.fields.0,
            size: unsigned(self.size, "size")?,
            chunks: chunks(self.chunks)?,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: Uuid,
    name: String,
    source_id: Uuid,
    format: String,
    mapping: Json<Mapping>,
    status: String,
    #[sqlx(flatten)]
    counters: CountersRow,
    checkpoint: i64,
    error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl JobRow {
    fn into_job(self) -> Result<ImportJob> {
        Ok(ImportJob {
            id: self.id,
            name: self.name,
            source_id: self.source_id,
            format: source_format(&self.format)?,
            mapping: self.mapping.0,
            status: job_status(&self.status)?,
            counters: self.counters.into_counters()?,
            offset: unsigned(self.checkpoint, "checkpoint")?,
            error: self.error,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ReportRow {
    row: i64,
    status: String,
    user_id: Option<Uuid>,
    message: String,
    created_at: DateTime<Utc>,
}

impl ReportRow {
    fn into_report(self) -> Result<RowReport> {
        Ok(RowReport {
            row: unsigned(self.row, "row")?,
            status: row_status(&self.status)?,
            user_id: self.user_id,
            message: self.message,
            created_at: self.created_at,
        })
    }
}

pub(super) async fn create_source(pool: &PgPool, source: &ImportSource) -> Result<()> {
    sqlx::query(
        "INSERT INTO import_sources (id, format, fields, size, chunks, complete, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7)",
    )
    .bind(source.id)
    .bind(source.format.as_str())
    .bind(Json(&source.fields))
    .bind(stored(source.size))
    .bind(i64::from(source.chunks))
    .bind(source.created_at)
    .bind(source.expires_at)
    .execute(pool)
    .await
    .on_insert("id", "import source")?;
    Ok(())
}

/// Stores a chunk; storing the same `seq` again replaces it (a retried write).
pub(super) async fn put_chunk(pool: &PgPool, source: Uuid, seq: u32, data: &[u8]) -> Result<()> {
    sqlx::query(
        "INSERT INTO import_chunks (source_id, seq, data) VALUES ($1, $2, $3) \
         ON CONFLICT (source_id, seq) DO UPDATE SET data = excluded.data",
    )
    .bind(source)
    .bind(i64::from(seq))
    .bind(data)
    .execute(pool)
    .await
    .on_insert("seq", "import source")?;
    Ok(())
}

pub(super) async fn complete_source(pool: &PgPool, source: &ImportSource) -> Result<()> {
    let done = sqlx::query(
        "UPDATE import_sources SET fields = $2, size = $3, chunks = $4, complete = TRUE \
         WHERE id = $1",
    )
    .bind(source.id)
    .bind(Json(&source.fields))
    .bind(stored(source.size))
    .bind(i64::from(source.chunks))
    .execute(pool)
    .await
    .db()?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound("import source"));
    }
    Ok(())
}

/// Deletes a source; its chunks go by cascade.
pub(super) async fn delete_source(pool: &PgPool, id: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM import_sources WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .db()?;
    Ok(())
}

pub(super) async fn find_source(pool: &PgPool, id: Uuid) -> Result<Option<ImportSource>> {
    let row: Option<SourceRow> =
        sqlx::query_as("SELECT * FROM import_sources WHERE id = $1 AND complete")
            .bind(id)
            .fetch_optional(pool)
            .await
            .db()?;
    row.map(SourceRow::into_source).transpose()
}

pub(super) async fn get_chunk(pool: &PgPool, source: Uuid, seq: u32) -> Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT data FROM import_chunks WHERE source_id = $1 AND seq = $2")
        .bind(source)
        .bind(i64::from(seq))
        .fetch_optional(pool)
        .await
        .db()
}

/// Deletes the sources that expired before `now` (their chunks by cascade).
pub(super) async fn purge_sources(pool: &PgPool, now: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query("DELETE FROM import_sources WHERE expires_at < $1")
        .bind(now)
        .execute(pool)
        .await
        .db()?;
    Ok(done.rows_affected())
}

pub(super) async fn insert_job(pool: &PgPool, job: &ImportJob) -> Result<()> {
    sqlx::query(
        "INSERT INTO import_jobs (id, name, source_id, format, mapping, status, total, \
         successful, failed, skipped, checkpoint, error, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(job.id)
    .bind(&job.name)
    .bind(job.source_id)
    .bind(job.format.as_str())
    .bind(Json(&job.mapping))
    .bind(job.status.as_str())
    .bind(stored(job.counters.total))
    .bind(stored(job.counters.successful))
    .bind(stored(job.counters.failed))
    .bind(stored(job.counters.skipped))
    .bind(stored(job.offset))
    .bind(job.error.as_deref())
    .bind(job.created_at)
    .bind(job.updated_at)
    .execute(pool)
    .await
    .on_insert("id", "import job")?;
    Ok(())
}

pub(super) async fn find_job(pool: &PgPool, id: Uuid) -> Result<Option<ImportJob>> {
    let row: Option<JobRow> = sqlx::query_as("SELECT * FROM import_jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .db()?;
    row.map(JobRow::into_job).transpose()
}

pub(super) async fn list_jobs(pool: &PgPool) -> Result<Vec<ImportJob>> {
    let rows: Vec<JobRow> = sqlx::query_as("SELECT * FROM import_jobs ORDER BY created_at, id")
        .fetch_all(pool)
        .await
        .db()?;
    rows.into_iter().map(JobRow::into_job).collect()
}

/// Leases the oldest claimable job. `SKIP LOCKED` passes over a job another
/// claimant (or a committing batch) holds, so no two claimants get the same one.
pub(super) async fn claim_job(
    pool: &PgPool,
    owner: Uuid,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<ImportJob>> {
    let row: Option<JobRow> = sqlx::query_as(
        "UPDATE import_jobs SET lease_owner = $1, lease_until = $3 \
         WHERE id = (SELECT id FROM import_jobs \
                     WHERE status = 'pending' AND (lease_owner IS NULL OR lease_until < $2) \
                     ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING *",
    )
    .bind(owner)
    .bind(now)
    .bind(until)
    .fetch_optional(pool)
    .await
    .db()?;
    row.map(JobRow::into_job).transpose()
}

pub(super) async fn finish_job(
    pool: &PgPool,
    job: Uuid,
    owner: Uuid,
    status: JobStatus,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE import_jobs SET status = $3, error = $4, lease_owner = NULL, \
         lease_until = NULL, updated_at = $5 \
         WHERE id = $1 AND status = 'pending' AND lease_owner = $2",
    )
    .bind(job)
    .bind(owner)
    .bind(status.as_str())
    .bind(error)
    .bind(at)
    .execute(pool)
    .await
    .db()?;
    if done.rows_affected() == 0 {
        return Err(Error::Conflict { field: "lease" });
    }
    Ok(())
}

pub(super) async fn release_job(pool: &PgPool, job: Uuid, owner: Uuid) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE import_jobs SET lease_owner = NULL, lease_until = NULL \
         WHERE id = $1 AND status = 'pending' AND lease_owner = $2",
    )
    .bind(job)
    .bind(owner)
    .execute(pool)
    .await
    .db()?;
    Ok(done.rows_affected() == 1)
}

/// The failed and skipped rows from `import_rows` (with the created rows of
/// batches written before `import_created`), merged with the created rows of
/// `import_created`, read in one snapshot: a batch committing meanwhile shows
/// all its rows or none.
pub(super) async fn rows(
    pool: &PgPool,
    job: Uuid,
    statuses: &[RowStatus],
    limit: u32,
) -> Result<Vec<RowReport>> {
    let wanted = import_plan::distinct(statuses);
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = pool.begin().await.db()?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .db()?;
    let names: Vec<&str> = wanted.iter().map(|s| s.as_str()).collect();
    let rows: Vec<ReportRow> = sqlx::query_as(
        "SELECT * FROM import_rows WHERE job_id = $1 AND status = ANY($3) \
         ORDER BY row LIMIT $2",
    )
    .bind(job)
    .bind(i64::from(limit))
    .bind(names)
    .fetch_all(&mut *tx)
    .await
    .db()?;
    let mut created = CreatedRows::new(&wanted, limit);
    while let Some(after) = created.next_after() {
        let page = sqlx::query_as(
            "SELECT first_row, created_at, packed FROM import_created \
             WHERE job_id = $1 AND first_row > $2 ORDER BY first_row LIMIT $3",
        )
        .bind(job)
        .bind(after)
        .bind(CreatedRows::PAGE)
        .fetch_all(&mut *tx)
        .await
        .db()?;
        created.add(page)?;
    }
    tx.commit().await.db()?;
    let reports = rows
        .into_iter()
        .map(ReportRow::into_report)
        .collect::<Result<Vec<_>>>()?;
    Ok(created.merged(reports))
}

/// Whether `owner` held the job's lease when the batch was written.
enum Committed {
    Done(CountersRow),
    LeaseLost,
    /// The batch's turn never came (see [`Turn`]); nothing was written.
    Refused(Error),
}

/// Another transaction can take an identifier between the lookup and the insert
/// (a registration, another job): the unique violation rolls the batch back and
/// it is tried again, when the lookup sees the identifier and skips its row. A
/// deadlock between two such writers is retried the same way.
pub(super) async fn commit_batch(
    pool: &PgPool,
    job: Uuid,
    owner: Uuid,
    batch: &Batch,
    at: DateTime<Utc>,
    until: DateTime<Utc>,
    turn: &mut Turn,
) -> Result<Counters> {
    let mut attempt = 1;
    loop {
        match try_commit(pool, job, owner, batch, at, until, turn).await {
            Ok(Committed::Done(counters)) => return counters.into_counters(),
            Ok(Committed::LeaseLost) => return Err(Error::Conflict { field: "lease" }),
            Ok(Committed::Refused(e)) => return Err(e),
            Err(e) if attempt < ATTEMPTS && is_transient(&e) => {
                tracing::debug!(error = %e, attempt, "import batch clashed; trying again");
                attempt += 1;
            }
            Err(e) => return Err(internal(e)),
        }
    }
}

/// A unique violation or a deadlock: worth another attempt.
fn is_transient(e: &sqlx::Error) -> bool {
    is_unique_violation(e)
        || matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("40P01"))
}

async fn try_commit(
    pool: &PgPool,
    job: Uuid,
    owner: Uuid,
    batch: &Batch,
    at: DateTime<Utc>,
    until: DateTime<Utc>,
    turn: &mut Turn,
) -> sqlx::Result<Committed> {
    let mut tx = pool.begin().await?;
    // The batch and its checkpoint commit together, so a crash that loses the last
    // few commits before they reach the disk only rewinds the job to an earlier
    // checkpoint, with none of the lost batch's users written: it needs no flush
    // of its own (the next synchronous commit flushes it anyway).
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;

    // The users and rows first: this part runs while the batch before (another
    // transaction, another backend) may still be committing.
    let keys = batch.identifiers();
    let keys: Vec<&str> = keys.iter().map(|k| k.as_ref()).collect();
    let existing = existing(&mut tx, &keys).await?;
    let plan = import_plan::plan(batch, &existing);
    insert_users(&mut tx, &plan).await?;
    insert_identifiers(&mut tx, &plan).await?;
    insert_rows(&mut tx, job, &plan, at).await?;

    // Then, in row order, the job. Its row lock keeps claimants (SKIP LOCKED)
    // and finishers off until the commit; a lease lost meanwhile rolls it all back.
    if let Err(e) = turn.wait().await {
        // Rolled back now, not when the connection is next used: the batch's
        // rows hold index entries that other writers would wait on.
        tx.rollback().await?;
        return Ok(Committed::Refused(e));
    }
    let held: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM import_jobs WHERE id = $1 AND status = 'pending' AND lease_owner = $2 \
         FOR UPDATE",
    )
    .bind(job)
    .bind(owner)
    .fetch_optional(&mut *tx)
    .await?;
    if held.is_none() {
        tx.rollback().await?;
        return Ok(Committed::LeaseLost);
    }

    let counters: CountersRow = sqlx::query_as(
        "UPDATE import_jobs SET total = total + $2, successful = successful + $3, \
         failed = failed + $4, skipped = skipped + $5, checkpoint = $6, lease_until = $7, \
         updated_at = $8 WHERE id = $1 RETURNING total, successful, failed, skipped",
    )
    .bind(job)
    .bind(stored(plan.counts.total))
    .bind(stored(plan.counts.successful))
    .bind(stored(plan.counts.failed))
    .bind(stored(plan.counts.skipped))
    .bind(stored(batch.offset))
    .bind(turn.lease_end(until))
    .bind(at)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Committed::Done(counters))
}

/// The holders of those of `identifiers` that exist.
async fn existing(
    conn: &mut PgConnection,
    identifiers: &[&str],
) -> sqlx::Result<HashMap<String, Uuid>> {
    if identifiers.is_empty() {
        return Ok(HashMap::new());
    }
    let found: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT identifier, user_id FROM user_identifiers WHERE identifier = ANY($1)",
    )
    .bind(identifiers)
    .fetch_all(&mut *conn)
    .await?;
    Ok(found.into_iter().collect())
}

async fn insert_users(conn: &mut PgConnection, plan: &Plan<'_>) -> sqlx::Result<()> {
    if plan.users.is_empty() {
        return Ok(());
    }
    let n = plan.users.len();
    let mut ids = Vec::with_capacity(n);
    let mut usernames = Vec::with_capacity(n);
    let mut emails = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    let mut profiles = Vec::with_capacity(n);
    let mut roles = Vec::with_capacity(n);
    let mut active = Vec::with_capacity(n);
    let mut verified = Vec::with_capacity(n);
    let mut expired = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    let mut phones = Vec::with_capacity(n);
    for user in &plan.users {
        ids.push(user.id);
        usernames.push(user.username.as_str());
        emails.push(user.email.as_ref().map(Email::as_str));
        hashes.push(user.password_hash.as_deref());
        profiles.push(Json(&user.profile));
        roles.push(user.role.as_str());
        active.push(user.active);
        verified.push(user.verified);
        expired.push(user.password_expired);
        created.push(user.created_at);
        phones.push(user.phone.as_deref());
    }
    // Updated at is the creation time, and so is the password's age when there is one.
    sqlx::query(
        "INSERT INTO users (id, username, email, password_hash, profile, role, active, \
         verified, password_expired, created_at, updated_at, password_set_at, phone) \
         SELECT id, username, email, hash, profile, role, active, verified, expired, at, at, \
                CASE WHEN hash IS NULL THEN NULL ELSE at END, phone \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[], \
                     $7::bool[], $8::bool[], $9::bool[], $10::timestamptz[], $11::text[]) \
              AS u (id, username, email, hash, profile, role, active, verified, expired, at, phone)",
    )
    .bind(ids)
    .bind(usernames)
    .bind(emails)
    .bind(hashes)
    .bind(profiles)
    .bind(roles)
    .bind(active)
    .bind(verified)
    .bind(expired)
    .bind(created)
    .bind(phones)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_identifiers(conn: &mut PgConnection, plan: &Plan<'_>) -> sqlx::Result<()> {
    if plan.identifiers.is_empty() {
        return Ok(());
    }
    let (idents, ids): (Vec<&str>, Vec<Uuid>) = plan
        .identifiers
        .iter()
        .map(|(k, id)| (k.as_ref(), *id))
        .unzip();
    sqlx::query(
        "INSERT INTO user_identifiers (identifier, user_id) \
         SELECT * FROM UNNEST($1::text[], $2::uuid[])",
    )
    .bind(idents)
    .bind(ids)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_rows(
    conn: &mut PgConnection,
    job: Uuid,
    plan: &Plan<'_>,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    if !plan.reports.is_empty() {
        let n = plan.reports.len();
        let mut rows = Vec::with_capacity(n);
        let mut statuses = Vec::with_capacity(n);
        let mut users = Vec::with_capacity(n);
        let mut messages = Vec::with_capacity(n);
        for row in &plan.reports {
            rows.push(stored(row.row));
            statuses.push(row.status.as_str());
            users.push(row.user_id);
            messages.push(&*row.message);
        }
        sqlx::query(
            "INSERT INTO import_rows (job_id, row, status, user_id, message, created_at) \
             SELECT $1, r.row, r.status, r.user_id, r.message, $2 \
             FROM UNNEST($3::bigint[], $4::text[], $5::uuid[], $6::text[]) \
                  AS r (row, status, user_id, message)",
        )
        .bind(job)
        .bind(at)
        .bind(rows)
        .bind(statuses)
        .bind(users)
        .bind(messages)
        .execute(&mut *conn)
        .await?;
    }
    if let Some((first, packed)) = plan.created_record() {
        sqlx::query(
            "INSERT INTO import_created (job_id, first_row, created_at, packed) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(job)
        .bind(stored(first))
        .bind(at)
        .bind(packed)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
