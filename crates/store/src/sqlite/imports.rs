//! Bulk import: sources in chunks, jobs with their lease and checkpoint, and the
//! batches that create users and record every row.
//!
//! A batch is written with a few multi-row statements (SQLite allows 32,766 bound
//! values per statement).

use std::collections::HashMap;

use aegis_core::identity::Email;
use aegis_core::import::{
    Batch, Counters, ImportJob, ImportSource, JobStatus, Mapping, RowReport, RowStatus,
    SourceField, Turn,
};
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::{begin_write, micros, text, time, uuid};
use crate::convert::{chunks, job_status, row_status, source_format, unsigned};
use crate::error::{internal, DbResultExt};
use crate::import_plan::{self, stored, CountersRow, CreatedRows, Plan};

#[derive(sqlx::FromRow)]
struct SourceRow {
    id: String,
    format: String,
    fields: Json<Vec<SourceField>>,
    size: i64,
    chunks: i64,
    created_at: i64,
    expires_at: i64,
}

impl SourceRow {
    fn into_source(self) -> Result<ImportSource> {
        Ok(ImportSource {
            id: uuid(&self.id)?,
            format: source_format(&self.format)?,
            fields: self.fields.0,
            size: unsigned(self.size, "size")?,
            chunks: chunks(self.chunks)?,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    name: String,
    source_id: String,
    format: String,
    mapping: Json<Mapping>,
    status: String,
    #[sqlx(flatten)]
    counters: CountersRow,
    checkpoint: i64,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl JobRow {
    fn into_job(self) -> Result<ImportJob> {
        Ok(ImportJob {
            id: uuid(&self.id)?,
            name: self.name,
            source_id: uuid(&self.source_id)?,
            format: source_format(&self.format)?,
            mapping: self.mapping.0,
            status: job_status(&self.status)?,
            counters: self.counters.into_counters()?,
            offset: unsigned(self.checkpoint, "checkpoint")?,
            error: self.error,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ReportRow {
    row: i64,
    status: String,
    user_id: Option<String>,
    message: String,
    created_at: i64,
}

impl ReportRow {
    fn into_report(self) -> Result<RowReport> {
        Ok(RowReport {
            row: unsigned(self.row, "row")?,
            status: row_status(&self.status)?,
            user_id: self.user_id.as_deref().map(uuid).transpose()?,
            message: self.message,
            created_at: time(self.created_at)?,
        })
    }
}

pub(super) async fn create_source(pool: &SqlitePool, source: &ImportSource) -> Result<()> {
    sqlx::query(
        "INSERT INTO import_sources (id, format, fields, size, chunks, complete, created_at, \
         expires_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)",
    )
    .bind(text(source.id))
    .bind(source.format.as_str())
    .bind(Json(&source.fields))
    .bind(stored(source.size))
    .bind(i64::from(source.chunks))
    .bind(micros(source.created_at))
    .bind(micros(source.expires_at))
    .execute(pool)
    .await
    .on_insert("id", "import source")?;
    Ok(())
}

/// Stores a chunk; storing the same `seq` again replaces it (a retried write).
pub(super) async fn put_chunk(
    pool: &SqlitePool,
    source: Uuid,
    seq: u32,
    data: &[u8],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO import_chunks (source_id, seq, data) VALUES (?1, ?2, ?3) \
         ON CONFLICT (source_id, seq) DO UPDATE SET data = excluded.data",
    )
    .bind(text(source))
    .bind(i64::from(seq))
    .bind(data)
    .execute(pool)
    .await
    .on_insert("seq", "import source")?;
    Ok(())
}

pub(super) async fn complete_source(pool: &SqlitePool, source: &ImportSource) -> Result<()> {
    let done = sqlx::query(
        "UPDATE import_sources SET fields = ?2, size = ?3, chunks = ?4, complete = 1 \
         WHERE id = ?1",
    )
    .bind(text(source.id))
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

/// Deletes a source; its chunks go by cascade (foreign keys are on for every connection).
pub(super) async fn delete_source(pool: &SqlitePool, id: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM import_sources WHERE id = ?1")
        .bind(text(id))
        .execute(pool)
        .await
        .db()?;
    Ok(())
}

pub(super) async fn find_source(pool: &SqlitePool, id: Uuid) -> Result<Option<ImportSource>> {
    let row: Option<SourceRow> =
        sqlx::query_as("SELECT * FROM import_sources WHERE id = ?1 AND complete = 1")
            .bind(text(id))
            .fetch_optional(pool)
            .await
            .db()?;
    row.map(SourceRow::into_source).transpose()
}

pub(super) async fn get_chunk(
    pool: &SqlitePool,
    source: Uuid,
    seq: u32,
) -> Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT data FROM import_chunks WHERE source_id = ?1 AND seq = ?2")
        .bind(text(source))
        .bind(i64::from(seq))
        .fetch_optional(pool)
        .await
        .db()
}

/// Deletes the sources that expired before `now` (their chunks by cascade).
pub(super) async fn purge_sources(pool: &SqlitePool, now: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query("DELETE FROM import_sources WHERE expires_at < ?1")
        .bind(micros(now))
        .execute(pool)
        .await
        .db()?;
    Ok(done.rows_affected())
}

pub(super) async fn insert_job(pool: &SqlitePool, job: &ImportJob) -> Result<()> {
    sqlx::query(
        "INSERT INTO import_jobs (id, name, source_id, format, mapping, status, total, \
         successful, failed, skipped, checkpoint, error, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )
    .bind(text(job.id))
    .bind(&job.name)
    .bind(text(job.source_id))
    .bind(job.format.as_str())
    .bind(Json(&job.mapping))
    .bind(job.status.as_str())
    .bind(stored(job.counters.total))
    .bind(stored(job.counters.successful))
    .bind(stored(job.counters.failed))
    .bind(stored(job.counters.skipped))
    .bind(stored(job.offset))
    .bind(job.error.as_deref())
    .bind(micros(job.created_at))
    .bind(micros(job.updated_at))
    .execute(pool)
    .await
    .on_insert("id", "import job")?;
    Ok(())
}

pub(super) async fn find_job(pool: &SqlitePool, id: Uuid) -> Result<Option<ImportJob>> {
    let row: Option<JobRow> = sqlx::query_as("SELECT * FROM import_jobs WHERE id = ?1")
        .bind(text(id))
        .fetch_optional(pool)
        .await
        .db()?;
    row.map(JobRow::into_job).transpose()
}

pub(super) async fn list_jobs(pool: &SqlitePool) -> Result<Vec<ImportJob>> {
    let rows: Vec<JobRow> = sqlx::query_as("SELECT * FROM import_jobs ORDER BY created_at, id")
        .fetch_all(pool)
        .await
        .db()?;
    rows.into_iter().map(JobRow::into_job).collect()
}

/// Leases the oldest claimable job; `BEGIN IMMEDIATE` keeps other claimants out
/// until the lease is written.
pub(super) async fn claim_job(
    pool: &SqlitePool,
    owner: Uuid,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<ImportJob>> {
    let mut tx = begin_write(pool).await.db()?;
    let row: Option<JobRow> = sqlx::query_as(
        "UPDATE import_jobs SET lease_owner = ?1, lease_until = ?3 \
         WHERE id = (SELECT id FROM import_jobs \
                     WHERE status = 'pending' AND (lease_owner IS NULL OR lease_until < ?2) \
                     ORDER BY created_at, id LIMIT 1) \
         RETURNING *",
    )
    .bind(text(owner))
    .bind(micros(now))
    .bind(micros(until))
    .fetch_optional(&mut *tx)
    .await
    .db()?;
    tx.commit().await.db()?;
    row.map(JobRow::into_job).transpose()
}

pub(super) async fn release_job(pool: &SqlitePool, job: Uuid, owner: Uuid) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE import_jobs SET lease_owner = NULL, lease_until = NULL \
         WHERE id = ?1 AND status = 'pending' AND lease_owner = ?2",
    )
    .bind(text(job))
    .bind(text(owner))
    .execute(pool)
    .await
    .db()?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn finish_job(
    pool: &SqlitePool,
    job: Uuid,
    owner: Uuid,
    status: JobStatus,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE import_jobs SET status = ?3, error = ?4, lease_owner = NULL, \
         lease_until = NULL, updated_at = ?5 \
         WHERE id = ?1 AND status = 'pending' AND lease_owner = ?2",
    )
    .bind(text(job))
    .bind(text(owner))
    .bind(status.as_str())
    .bind(error)
    .bind(micros(at))
    .execute(pool)
    .await
    .db()?;
    if done.rows_affected() == 0 {
        return Err(Error::Conflict { field: "lease" });
    }
    Ok(())
}

/// The failed and skipped rows from `import_rows` (with the created rows of
/// batches written before `import_created`), merged with the created rows of
/// `import_created`, read in one snapshot (a read transaction): a batch
/// committing meanwhile shows all its rows or none.
///
/// `import_rows` with every status: the primary key gives row order and stops at
/// the limit. Fewer: one arm per status, merged in row order (`MERGE (UNION
/// ALL)`). Failed and skipped rows read their range of the partial index, named
/// since without statistics SQLite would rather walk the primary key and filter
/// (every row of the job for a rare status); the few created rows left there walk
/// the primary key.
pub(super) async fn rows(
    pool: &SqlitePool,
    job: Uuid,
    statuses: &[RowStatus],
    limit: u32,
) -> Result<Vec<RowReport>> {
    let wanted = import_plan::distinct(statuses);
    let sql = match wanted.len() {
        0 => return Ok(Vec::new()),
        3 => "SELECT * FROM import_rows WHERE job_id = ?1 ORDER BY row LIMIT ?2".to_owned(),
        _ => {
            let arms: Vec<String> = wanted
                .iter()
                .enumerate()
                .map(|(i, status)| match status {
                    RowStatus::Success => format!(
                        "SELECT * FROM import_rows WHERE job_id = ?1 AND status = ?{}",
                        i + 3
                    ),
                    _ => format!(
                        "SELECT * FROM import_rows INDEXED BY import_rows_unsuccessful_idx \
                         WHERE job_id = ?1 AND status = ?{} AND status <> 'success'",
                        i + 3
                    ),
                })
                .collect();
            format!("{} ORDER BY row LIMIT ?2", arms.join(" UNION ALL "))
        }
    };
    let job = text(job);
    // A deferred transaction: its first read fixes the snapshot.
    let mut tx = pool.begin().await.db()?;
    let mut query = sqlx::query_as(&sql).bind(&job).bind(i64::from(limit));
    for status in &wanted {
        query = query.bind(status.as_str());
    }
    let rows: Vec<ReportRow> = query.fetch_all(&mut *tx).await.db()?;
    let mut created = CreatedRows::new(&wanted, limit);
    while let Some(after) = created.next_after() {
        let page: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT first_row, created_at, packed FROM import_created \
             WHERE job_id = ?1 AND first_row > ?2 ORDER BY first_row LIMIT ?3",
        )
        .bind(&job)
        .bind(after)
        .bind(CreatedRows::PAGE)
        .fetch_all(&mut *tx)
        .await
        .db()?;
        let page = page
            .into_iter()
            .map(|(first, at, packed)| Ok((first, time(at)?, packed)))
            .collect::<Result<Vec<_>>>()?;
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
}

pub(super) async fn commit_batch(
    pool: &SqlitePool,
    job: Uuid,
    owner: Uuid,
    batch: &Batch,
    at: DateTime<Utc>,
    until: DateTime<Utc>,
    turn: &mut Turn,
) -> Result<Counters> {
    // One writer at a time: wait before taking the write lock, or the batch
    // before could never commit.
    turn.wait().await?;
    match try_commit(pool, job, owner, batch, at, turn.lease_end(until)).await {
        Ok(Committed::Done(counters)) => counters.into_counters(),
        Ok(Committed::LeaseLost) => Err(Error::Conflict { field: "lease" }),
        Err(e) => Err(internal(e)),
    }
}

/// One write transaction: `BEGIN IMMEDIATE` holds off every other writer, so the
/// identifiers looked up stay free until the commit.
async fn try_commit(
    pool: &SqlitePool,
    job: Uuid,
    owner: Uuid,
    batch: &Batch,
    at: DateTime<Utc>,
    until: DateTime<Utc>,
) -> sqlx::Result<Committed> {
    let job = text(job);
    let mut tx = begin_write(pool).await?;
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM import_jobs WHERE id = ?1 AND status = 'pending' AND lease_owner = ?2",
    )
    .bind(&job)
    .bind(text(owner))
    .fetch_optional(&mut *tx)
    .await?;
    if held.is_none() {
        tx.rollback().await?;
        return Ok(Committed::LeaseLost);
    }

    let keys = batch.identifiers();
    let keys: Vec<&str> = keys.iter().map(|k| k.as_ref()).collect();
    let existing = existing(&mut tx, &keys).await?;
    let plan = import_plan::plan(batch, &existing);
    insert_users(&mut tx, &plan).await?;
    insert_identifiers(&mut tx, &plan).await?;
    insert_rows(&mut tx, &job, &plan, at).await?;

    let counters: CountersRow = sqlx::query_as(
        "UPDATE import_jobs SET total = total + ?2, successful = successful + ?3, \
         failed = failed + ?4, skipped = skipped + ?5, checkpoint = ?6, lease_until = ?7, \
         updated_at = ?8 WHERE id = ?1 RETURNING total, successful, failed, skipped",
    )
    .bind(&job)
    .bind(stored(plan.counts.total))
    .bind(stored(plan.counts.successful))
    .bind(stored(plan.counts.failed))
    .bind(stored(plan.counts.skipped))
    .bind(stored(batch.offset))
    .bind(micros(until))
    .bind(micros(at))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Committed::Done(counters))
}

/// The holders of those of `identifiers` that exist, in one statement whatever
/// their number (one JSON array bound).
async fn existing(
    conn: &mut SqliteConnection,
    identifiers: &[&str],
) -> sqlx::Result<HashMap<String, Uuid>> {
    if identifiers.is_empty() {
        return Ok(HashMap::new());
    }
    let found: Vec<(String, String)> = sqlx::query_as(
        "SELECT identifier, user_id FROM user_identifiers \
         WHERE identifier IN (SELECT value FROM json_each(?1))",
    )
    .bind(Json(identifiers))
    .fetch_all(&mut *conn)
    .await?;
    found
        .into_iter()
        .map(|(ident, id)| {
            let id = Uuid::parse_str(&id).map_err(|e| sqlx::Error::Decode(e.into()))?;
            Ok((ident, id))
        })
        .collect()
}

// Rows per `INSERT`. The statement's size barely matters past a few dozen rows
// (the indexes of `users` dominate), so these stay small: a full statement is
// kept prepared on each connection, and a batch's shorter last one is not (its
// size varies from batch to batch).
/// Users per `INSERT` (13 values each).
const USERS_PER_STATEMENT: usize = 250;
/// Identifiers per `INSERT` (2 values each).
const IDENTIFIERS_PER_STATEMENT: usize = 500;
/// Row reports per `INSERT` (6 values each).
const ROWS_PER_STATEMENT: usize = 500;

// Every statement stays within SQLite's limit of bound values.
const _: () = assert!(USERS_PER_STATEMENT * 13 <= 32_766);
const _: () = assert!(IDENTIFIERS_PER_STATEMENT * 2 <= 32_766);
const _: () = assert!(ROWS_PER_STATEMENT * 6 <= 32_766);

async fn insert_users(conn: &mut SqliteConnection, plan: &Plan<'_>) -> sqlx::Result<()> {
    for users in plan.users.chunks(USERS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO users (id, username, email, password_hash, profile, role, active, \
             verified, password_expired, created_at, updated_at, password_set_at, phone) VALUES {}",
            values(13, users.len())
        );
        let mut query = sqlx::query(&sql).persistent(users.len() == USERS_PER_STATEMENT);
        for user in users {
            let at = micros(user.created_at);
            // Updated at is the creation time, and so is the password's age when there is one.
            query = query
                .bind(text(user.id))
                .bind(user.username.as_str())
                .bind(user.email.as_ref().map(Email::as_str))
                .bind(user.password_hash.as_deref())
                .bind(Json(&user.profile))
                .bind(user.role.as_str())
                .bind(user.active)
                .bind(user.verified)
                .bind(user.password_expired)
                .bind(at)
                .bind(at)
                .bind(user.password_hash.as_ref().map(|_| at))
                .bind(user.phone.as_deref());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn insert_identifiers(conn: &mut SqliteConnection, plan: &Plan<'_>) -> sqlx::Result<()> {
    for idents in plan.identifiers.chunks(IDENTIFIERS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO user_identifiers (identifier, user_id) VALUES {}",
            values(2, idents.len())
        );
        let mut query = sqlx::query(&sql).persistent(idents.len() == IDENTIFIERS_PER_STATEMENT);
        for (ident, id) in idents {
            query = query.bind(ident.as_ref()).bind(text(*id));
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn insert_rows(
    conn: &mut SqliteConnection,
    job: &str,
    plan: &Plan<'_>,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    for rows in plan.reports.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO import_rows (job_id, row, status, user_id, message, created_at) \
             VALUES {}",
            values(6, rows.len())
        );
        let mut query = sqlx::query(&sql).persistent(rows.len() == ROWS_PER_STATEMENT);
        for row in rows {
            query = query
                .bind(job)
                .bind(stored(row.row))
                .bind(row.status.as_str())
                .bind(row.user_id.map(text))
                .bind(&*row.message)
                .bind(micros(at));
        }
        query.execute(&mut *conn).await?;
    }
    if let Some((first, packed)) = plan.created_record() {
        sqlx::query(
            "INSERT INTO import_created (job_id, first_row, created_at, packed) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(job)
        .bind(stored(first))
        .bind(micros(at))
        .bind(packed)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// `rows` tuples of `width` anonymous parameters. Not `?NNN`: sqlx looks up each
/// parameter's name, a linear search per parameter for numbered ones (quadratic in
/// the statement's size), and nothing for anonymous ones.
fn values(width: usize, rows: usize) -> String {
    let tuple = format!("({}?)", "?, ".repeat(width.saturating_sub(1)));
    let mut sql = String::with_capacity(rows * (tuple.len() + 2));
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&tuple);
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_anonymous_tuples() {
        assert_eq!(values(3, 2), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(values(1, 1), "(?)");
    }
}
