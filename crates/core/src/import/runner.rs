//! Running import jobs: claim a job, stream its source from the checkpoint, turn
//! each row into a user or a failure, and commit batches with the checkpoint.
//!
//! Reading and validating the next batch overlaps with committing the previous one
//! (a bounded channel of one batch), so the database is the bottleneck. On a store
//! that writes in parallel (PostgreSQL: a backend process per connection) two
//! batches are written at once and commit in row order (see [`Turn`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{mpsc, Notify};
use uuid::Uuid;

use super::mapping::CompiledMapping;
use super::source::{csv_reader, json_cell, SourceReader};
use super::{
    Batch, Counters, Grant, ImportJob, ImportSource, JobStatus, RowInput, SourceFormat, Turn,
};
use crate::clock::Clock;
use crate::config::ImportConfig;
use crate::error::{Error, Result};
use crate::store::Store;

/// Counters of a run, reported after every batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportProgress {
    pub counters: Counters,
    /// Bytes of the source read so far.
    pub offset: u64,
    /// Bytes in the source.
    pub size: u64,
}

/// Rows of a source, one at a time, each with the offset where the next begins.
pub(crate) struct Rows<R: AsyncRead + Unpin + Send> {
    kind: RowsKind<R>,
    mapping: CompiledMapping,
    /// Column names (JSONL objects are read by key in this order).
    header: Vec<String>,
    /// Offset of the stream's first byte in the source.
    base: u64,
    next_row: u64,
    at: DateTime<Utc>,
}

enum RowsKind<R: AsyncRead + Unpin + Send> {
    Csv(csv_async::AsyncReader<R>, csv_async::StringRecord),
    Jsonl(BufReader<R>, String, u64),
}

impl<R: AsyncRead + Unpin + Send> Rows<R> {
    /// Rows of a stream that starts at `base` in the source; at 0 a CSV header
    /// line is skipped first. `next_row` numbers the first row read.
    pub(crate) async fn new(
        format: SourceFormat,
        rdr: R,
        base: u64,
        header: Vec<String>,
        mapping: CompiledMapping,
        next_row: u64,
        at: DateTime<Utc>,
    ) -> Result<Self> {
        let kind = match format {
            SourceFormat::Csv => {
                let mut reader = csv_reader(rdr);
                let mut record = csv_async::StringRecord::new();
                if base == 0 {
                    reader
                        .read_record(&mut record)
                        .await
                        .map_err(|e| csv_read_error("header", &e))?;
                }
                RowsKind::Csv(reader, record)
            }
            SourceFormat::Jsonl => RowsKind::Jsonl(BufReader::new(rdr), String::new(), 0),
        };
        Ok(Self {
            kind,
            mapping,
            header,
            base,
            next_row,
            at,
        })
    }

    /// The next row as a user to create or a failure, its number, and the offset
    /// where the row after it starts; `None` at the end.
    pub(crate) async fn next(&mut self) -> Result<Option<(u64, RowInput, u64)>> {
        let row = self.next_row;
        let (input, end) = match &mut self.kind {
            RowsKind::Csv(reader, record) => {
                match reader.read_record(record).await {
                    Ok(false) => return Ok(None),
                    Ok(true) => {}
                    Err(e) => return Err(csv_read_error(&format!("row {row}"), &e)),
                }
                let cells: Vec<&str> = record.iter().collect();
                let input = mapping_input(&self.mapping, row, &cells, self.at);
                (input, self.base + reader.position().byte())
            }
            RowsKind::Jsonl(reader, line, read) => {
                let input = loop {
                    line.clear();
                    let n = reader
                        .read_line(line)
                        .await
                        .map_err(|e| read_error(&format!("row {row}"), &e))?;
                    if n == 0 {
                        return Ok(None);
                    }
                    *read += n as u64;
                    if !line.trim().is_empty() {
                        break jsonl_record(line, &self.header);
                    }
                };
                let end = self.base + *read;
                let input = match input {
                    Ok(cells) => {
                        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
                        mapping_input(&self.mapping, row, &cells, self.at)
                    }
                    Err(reason) => RowInput::Failed(format!("row {row}: row: {reason}")),
                };
                (input, end)
            }
        };
        self.next_row += 1;
        Ok(Some((row, input, end)))
    }
}

/// A source that cannot be read: `Unavailable` when the store failed (the job
/// is taken up again from its checkpoint), `Internal` when the stored source is
/// damaged (a missing chunk, or bytes that are not UTF-8 although the upload
/// checked them), which no retry mends.
fn read_error(what: &str, e: &std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidData => {
            Error::internal(format!("source {what}: {e}"))
        }
        _ => {
            tracing::warn!(error = %e, "reading an import source failed");
            Error::Unavailable { retry_after: 1 }
        }
    }
}

fn csv_read_error(what: &str, e: &csv_async::Error) -> Error {
    match e.kind() {
        csv_async::ErrorKind::Io(io) => read_error(what, io),
        _ => Error::internal(format!("source {what}: {e}")),
    }
}

fn mapping_input(
    mapping: &CompiledMapping,
    row: u64,
    cells: &[&str],
    at: DateTime<Utc>,
) -> RowInput {
    match mapping.user(row, cells, Uuid::now_v7(), at) {
        Ok(user) => RowInput::Create(Box::new(user)),
        Err(message) => RowInput::Failed(message),
    }
}

/// A JSONL line as cells in header order (absent keys are empty).
fn jsonl_record(line: &str, header: &[String]) -> std::result::Result<Vec<String>, &'static str> {
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) else {
        return Err("not a JSON object");
    };
    header
        .iter()
        .map(|k| match obj.get(k) {
            None => Ok(String::new()),
            Some(v) => json_cell(v).ok_or("nested values are not supported"),
        })
        .collect()
}

/// The longest pause of the worker between two failed attempts.
pub const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30);

/// The pause after another failure: twice the last (the first failure after a
/// success waits twice the poll interval), at most [`MAX_RETRY_PAUSE`].
fn retry_pause(last: Duration, poll: Duration) -> Duration {
    (last.max(poll) * 2).min(MAX_RETRY_PAUSE.max(poll))
}

/// Runs queued import jobs in this instance.
pub struct Runner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: ImportConfig,
    /// This instance's lease owner id.
    owner: Uuid,
    wake: Notify,
    /// Set by [`Runner::stop`]: finish the batch in hand, give the job back.
    stopping: AtomicBool,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("owner", &self.owner)
            .finish()
    }
}

impl Runner {
    /// A runner with its own lease owner id.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: ImportConfig) -> Self {
        Self {
            store,
            clock,
            config,
            owner: Uuid::new_v4(),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
        }
    }

    /// Tells the worker a job was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Works until [`Runner::stop`]: runs every claimable job, then waits for a
    /// wake-up or the poll interval. A failure to claim or run is logged and
    /// retried later.
    ///
    /// While the store keeps failing (the database is away) the pause doubles
    /// from the poll interval up to [`MAX_RETRY_PAUSE`], so an outage costs a
    /// log line now and then, not a busy loop.
    pub async fn work(self: Arc<Self>) {
        let poll = Duration::from_millis(self.config.poll_ms.max(10));
        let mut pause = poll;
        while !self.is_stopping() {
            match self.run_pending(|_| {}).await {
                Ok(_) => pause = poll,
                Err(e) => {
                    pause = retry_pause(pause, poll);
                    tracing::error!(error = %e, retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                        "import worker failed; retrying");
                }
            }
            if self.is_stopping() {
                break;
            }
            let _ = tokio::time::timeout(pause, self.wake.notified()).await;
        }
    }

    /// Asks the worker to stop (a graceful shutdown): a running job commits the
    /// batch in hand, then gives its lease back so that it resumes from its
    /// checkpoint at once, here after a restart or on another instance.
    pub fn stop(&self) {
        self.stopping.store(true, AtomicOrdering::SeqCst);
        self.wake.notify_one();
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(AtomicOrdering::SeqCst)
    }

    /// Claims and runs jobs until none can be claimed; returns how many ran.
    /// `progress` is called after every committed batch.
    pub async fn run_pending(
        &self,
        progress: impl Fn(ImportProgress) + Send + Sync,
    ) -> Result<usize> {
        let mut ran = 0;
        loop {
            let now = self.clock.now();
            let Some(job) = self
                .store
                .claim_import_job(self.owner, now, now + self.lease())
                .await?
            else {
                return Ok(ran);
            };
            ran += 1;
            let id = job.id;
            tracing::info!(job = %id, rows_done = job.counters.total, "import job claimed");
            match self.run(job, &progress).await {
                Ok(counters) => self.finish(id, JobStatus::Success, None, counters).await?,
                Err(Failure::LeaseLost) => {
                    tracing::warn!(job = %id, "import job lease lost to another instance");
                }
                Err(Failure::Stopped) => {
                    match self.store.release_import_job(id, self.owner).await {
                        Ok(_) => tracing::info!(job = %id, "import job paused for shutdown; \
                            it resumes from its checkpoint"),
                        Err(e) => tracing::warn!(job = %id, error = %e,
                            "import job lease not released; it resumes when the lease ends"),
                    }
                    return Ok(ran);
                }
                Err(Failure::Job(reason)) => {
                    tracing::warn!(job = %id, reason, "import job failed");
                    self.finish(id, JobStatus::Failed, Some(reason), Counters::default())
                        .await?;
                }
                Err(Failure::Store(e)) => {
                    // The lease runs out and the job is taken up again from its checkpoint.
                    tracing::error!(job = %id, error = %e, "import job interrupted");
                    return Err(e);
                }
            }
        }
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.config.lease_s.max(1)).unwrap_or(i64::MAX))
    }

    async fn finish(
        &self,
        id: Uuid,
        status: JobStatus,
        error: Option<&str>,
        counters: Counters,
    ) -> Result<()> {
        match self
            .store
            .finish_import_job(id, self.owner, status, error, self.clock.now())
            .await
        {
            Ok(()) => {
                tracing::info!(job = %id, status = status.as_str(), total = counters.total,
                    successful = counters.successful, failed = counters.failed,
                    skipped = counters.skipped, "import job ended");
                Ok(())
            }
            Err(Error::Conflict { field: "lease" }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Runs a claimed job from its checkpoint to the end.
    async fn run(
        &self,
        job: ImportJob,
        progress: &(impl Fn(ImportProgress) + Send + Sync),
    ) -> std::result::Result<Counters, Failure> {
        let now = self.clock.now();
        let source = match self.store.find_import_source(job.source_id).await {
            Ok(Some(s)) if s.expires_at > now => s,
            Ok(_) => return Err(Failure::Job("the source has expired or was removed")),
            Err(e) => return Err(Failure::Store(e)),
        };
        let header: Vec<String> = source.fields.iter().map(|f| f.name.clone()).collect();
        let mapping = job
            .mapping
            .compile(&header)
            .map_err(|_| Failure::Job("the mapping does not fit the source"))?;
        let stream = SourceReader::stream(Arc::clone(&self.store), &source, job.offset);
        let rdr = tokio_util::io::StreamReader::new(stream);
        let rows = Rows::new(
            source.format,
            rdr,
            job.offset,
            header,
            mapping,
            job.counters.total + 1,
            now,
        )
        .await
        .map_err(Failure::reading)?;
        self.pump(job, &source, rows, progress).await
    }

    /// Reads batches on one task and commits them from this one.
    async fn pump<R: AsyncRead + Unpin + Send + 'static>(
        &self,
        job: ImportJob,
        source: &ImportSource,
        mut rows: Rows<R>,
        progress: &(impl Fn(ImportProgress) + Send + Sync),
    ) -> std::result::Result<Counters, Failure> {
        let batch_rows = self.config.batch_rows.clamp(1, 50_000);
        let (tx, mut rx) = mpsc::channel::<Result<Batch>>(1);
        let mut offset = job.offset;
        let reader = tokio::spawn(async move {
            loop {
                let mut batch = Batch {
                    rows: Vec::with_capacity(batch_rows),
                    offset,
                };
                let end = loop {
                    match rows.next().await {
                        Ok(Some((row, input, next))) => {
                            batch.rows.push((row, input));
                            batch.offset = next;
                            if batch.rows.len() == batch_rows {
                                break false;
                            }
                        }
                        Ok(None) => break true,
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    }
                };
                offset = batch.offset;
                if !batch.rows.is_empty() && tx.send(Ok(batch)).await.is_err() {
                    return;
                }
                if end {
                    return;
                }
            }
        });
        let _abort = AbortOnDrop(reader);
        let depth = self.store.parallel_import_batches().max(1);
        let mut done = Done {
            counters: job.counters,
            since: std::time::Instant::now(),
            size: source.size,
        };
        // The batches being written, oldest first; each commits only after the
        // one before it (see `Turn`). One at a time on a store that does not
        // write in parallel.
        let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(depth);
        while let Some(batch) = rx.recv().await {
            let batch = match batch {
                Ok(batch) => Arc::new(batch),
                Err(e) => {
                    // The rows before the unreadable point are committed first,
                    // whatever the timing.
                    while let Some(before) = in_flight.pop_front() {
                        self.settle(job.id, before, &mut done, progress).await?;
                    }
                    return Err(Failure::reading(e));
                }
            };
            // Batches that would take one identifier do not overlap: each would
            // wait for the other, one in the database and one here, which no
            // deadlock detector sees.
            while in_flight.len() >= depth || in_flight.iter().any(|b| b.shares_identifiers(&batch))
            {
                let Some(before) = in_flight.pop_front() else {
                    break;
                };
                self.settle(job.id, before, &mut done, progress).await?;
            }
            let turn = match in_flight.back_mut() {
                Some(last) => {
                    let (turn, grant) =
                        Turn::after(Duration::from_secs(self.config.lease_s.max(1)));
                    last.grant = Some(grant);
                    turn
                }
                None => Turn::now(),
            };
            let task = self.write(job.id, Arc::clone(&batch), turn);
            in_flight.push_back(InFlight {
                batch,
                task,
                grant: None,
            });
        }
        while let Some(before) = in_flight.pop_front() {
            self.settle(job.id, before, &mut done, progress).await?;
        }
        Ok(done.counters)
    }

    /// Starts committing `batch` (on its own task, so that it runs beside the
    /// one before).
    fn write(&self, job: Uuid, batch: Arc<Batch>, mut turn: Turn) -> AbortOnDrop<Result<Counters>> {
        let store = Arc::clone(&self.store);
        let owner = self.owner;
        let now = self.clock.now();
        let until = now + self.lease();
        AbortOnDrop(tokio::spawn(async move {
            store
                .commit_import_batch(job, owner, &batch, now, until, &mut turn)
                .await
        }))
    }

    /// Waits for a batch's commit and reports it. Returning early drops (aborts)
    /// the batch written after it, whose transaction then rolls back.
    async fn settle(
        &self,
        job: Uuid,
        batch: InFlight,
        done: &mut Done,
        progress: &(impl Fn(ImportProgress) + Send + Sync),
    ) -> std::result::Result<(), Failure> {
        let InFlight {
            batch,
            mut task,
            grant,
        } = batch;
        let mut committed = (&mut task.0)
            .await
            .map_err(|e| Failure::Store(Error::internal(format!("import batch task: {e}"))))?;
        if let Err(Error::Conflict { field: "turn" }) = committed {
            // Its turn did not come in time (it was blocked, or blocked another
            // writer, outside what the database sees); it rolled back, and the
            // batches before it are committed now: write it again, alone.
            tracing::debug!(
                offset = batch.offset,
                "import batch written again after a late turn"
            );
            let mut again = self.write(job, Arc::clone(&batch), Turn::now());
            committed = (&mut again.0)
                .await
                .map_err(|e| Failure::Store(Error::internal(format!("import batch task: {e}"))))?;
        }
        match committed {
            Ok(c) => {
                record_batch(&done.counters, &c, done.since.elapsed());
                done.since = std::time::Instant::now();
                done.counters = c;
            }
            Err(Error::Conflict { field: "lease" }) => return Err(Failure::LeaseLost),
            Err(e) => return Err(Failure::Store(e)),
        }
        // Committed: the batch after it may commit too.
        if let Some(grant) = grant {
            grant.give();
        }
        progress(ImportProgress {
            counters: done.counters,
            offset: batch.offset,
            size: done.size,
        });
        if self.is_stopping() {
            return Err(Failure::Stopped);
        }
        Ok(())
    }
}

/// A batch being committed.
struct InFlight {
    batch: Arc<Batch>,
    task: AbortOnDrop<Result<Counters>>,
    /// The turn of the batch written after this one, given once this one commits.
    grant: Option<Grant>,
}

impl InFlight {
    fn shares_identifiers(&self, next: &Batch) -> bool {
        let keys = self.batch.identifiers();
        let mine: std::collections::HashSet<&str> = keys.iter().map(|k| k.as_ref()).collect();
        next.identifiers().iter().any(|i| mine.contains(i.as_ref()))
    }
}

/// What the committed batches of a run add up to.
struct Done {
    counters: Counters,
    /// When the last batch was committed (for the rate metric).
    since: std::time::Instant,
    size: u64,
}

/// Import metrics for one committed batch: rows by outcome, and its rate.
fn record_batch(before: &Counters, after: &Counters, took: std::time::Duration) {
    use crate::telemetry::{IMPORT_RATE, IMPORT_ROWS};
    for (outcome, was, is) in [
        ("success", before.successful, after.successful),
        ("failed", before.failed, after.failed),
        ("skipped", before.skipped, after.skipped),
    ] {
        metrics::counter!(IMPORT_ROWS, "outcome" => outcome).increment(is.saturating_sub(was));
    }
    let rows = after.total.saturating_sub(before.total) as f64;
    let secs = took.as_secs_f64();
    if secs > 0.0 {
        metrics::gauge!(IMPORT_RATE).set(rows / secs);
    }
}

/// Why a run stopped early.
enum Failure {
    /// The job cannot go on (the reason is safe to show).
    Job(&'static str),
    /// The store failed; the job is retried from its checkpoint.
    Store(Error),
    /// The runner is stopping; the job is given back at its checkpoint.
    Stopped,
    /// Another runner holds the job now.
    LeaseLost,
}

impl Failure {
    /// A source read error: a store outage is retried, damage fails the job.
    fn reading(e: Error) -> Self {
        match e {
            Error::Unavailable { .. } => Failure::Store(e),
            e => {
                tracing::error!(error = %e, "import source unreadable");
                Failure::Job("the source could not be read")
            }
        }
    }
}

struct AbortOnDrop<T = ()>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Validates the rows of a local file without writing anything (`--dry-run`):
/// every row counts as successful or failed; duplicates are not looked up.
pub async fn dry_run<R: AsyncRead + Unpin + Send>(
    format: SourceFormat,
    rdr: R,
    header: Vec<String>,
    mapping: CompiledMapping,
    at: DateTime<Utc>,
    mut report: impl FnMut(u64, &RowInput, u64),
) -> Result<Counters> {
    let mut rows = Rows::new(format, rdr, 0, header, mapping, 1, at).await?;
    let mut counters = Counters::default();
    while let Some((row, input, offset)) = rows.next().await? {
        counters.count(match &input {
            RowInput::Create(_) => super::RowStatus::Success,
            RowInput::Failed(_) => super::RowStatus::Failed,
        });
        report(row, &input, offset);
    }
    Ok(counters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::mapping::FieldMapping;
    use crate::import::{Mapping, Target};

    fn compiled(header: &[String]) -> CompiledMapping {
        Mapping {
            fields: vec![FieldMapping {
                column: "email".into(),
                target: Target::Email,
            }],
            password: None,
        }
        .compile(header)
        .unwrap()
    }

    async fn all(
        format: SourceFormat,
        text: &'static [u8],
        base: u64,
        next: u64,
    ) -> Vec<(u64, Option<String>, u64)> {
        let header = vec!["email".to_owned(), "n".to_owned()];
        let mut rows = Rows::new(
            format,
            &text[base as usize..],
            base,
            header.clone(),
            compiled(&header),
            next,
            crate::clock::ManualClock::new().now(),
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        while let Some((row, input, end)) = rows.next().await.unwrap() {
            let email = match input {
                RowInput::Create(u) => u.email.map(|e| e.as_str().to_owned()),
                RowInput::Failed(m) => Some(m),
            };
            out.push((row, email, end));
        }
        out
    }

    #[test]
    fn failures_back_off_to_a_cap() {
        let poll = Duration::from_secs(1);
        let mut pause = poll;
        let mut pauses = Vec::new();
        for _ in 0..7 {
            pause = retry_pause(pause, poll);
            pauses.push(pause.as_secs());
        }
        assert_eq!(pauses, [2, 4, 8, 16, 30, 30, 30]);
        // A poll interval longer than the cap is never shortened.
        let slow = Duration::from_secs(60);
        assert_eq!(retry_pause(slow, slow), slow);
    }

    #[tokio::test]
    async fn read_errors_tell_an_outage_from_damage() {
        use std::io::{Error as IoError, ErrorKind};
        let header = vec!["email".to_owned(), "n".to_owned()];
        let cases = [
            (ErrorKind::Other, true),
            (ErrorKind::NotFound, false),
            (ErrorKind::InvalidData, false),
        ];
        for (kind, retried) in cases {
            for (format, text) in [
                (SourceFormat::Csv, &b"email,n\na@b.co,1\n"[..]),
                (SourceFormat::Jsonl, &b"{\"email\":\"a@b.co\"}\n"[..]),
            ] {
                let chunks: Vec<std::io::Result<bytes::Bytes>> = vec![
                    Ok(bytes::Bytes::from_static(text)),
                    Err(IoError::new(kind, "read failed")),
                ];
                let rdr = tokio_util::io::StreamReader::new(futures::stream::iter(chunks));
                let mut rows = Rows::new(
                    format,
                    rdr,
                    0,
                    header.clone(),
                    compiled(&header),
                    1,
                    crate::clock::ManualClock::new().now(),
                )
                .await
                .unwrap();
                assert!(rows.next().await.unwrap().is_some());
                let e = rows.next().await.unwrap_err();
                assert_eq!(matches!(e, Error::Unavailable { .. }), retried, "{kind:?}");
                let store = matches!(Failure::reading(e), Failure::Store(_));
                assert_eq!(store, retried, "{format:?} {kind:?}");
            }
        }
    }

    #[tokio::test]
    async fn csv_rows_resume_at_their_offsets() {
        const CSV: &[u8] = b"\xef\xbb\xbfemail,n\r\na@b.co,1\r\nbad,2\r\n\"c@d.co\",\"3\"\r\n";
        let rows = all(SourceFormat::Csv, CSV, 0, 1).await;
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].1.as_deref(), Some("a@b.co"));
        assert_eq!(
            rows[1].1.as_deref(),
            Some("row 2: email: does not match pattern")
        );
        // A record ends after its `\r`; the `\n` left reads as an empty line.
        assert_eq!(rows[2].2, CSV.len() as u64 - 1);
        // Starting at row 1's end gives rows 2 and 3, with the same offsets.
        let resumed = all(SourceFormat::Csv, CSV, rows[0].2, 2).await;
        assert_eq!(resumed, rows[1..]);
        assert!(all(SourceFormat::Csv, CSV, rows[2].2, 4).await.is_empty());
    }

    #[tokio::test]
    async fn jsonl_rows_resume_at_their_offsets() {
        const JSONL: &[u8] = b"{\"email\":\"a@b.co\",\"n\":1}\n\n[1]\n{\"email\":\"c@d.co\",\"n\":{\"x\":1}}\n{\"email\":\"e@f.co\"}";
        let rows = all(SourceFormat::Jsonl, JSONL, 0, 1).await;
        let emails: Vec<_> = rows.iter().map(|r| r.1.clone().unwrap()).collect();
        assert_eq!(
            emails,
            [
                "a@b.co",
                "row 2: row: not a JSON object",
                "row 3: row: nested values are not supported",
                "e@f.co"
            ]
        );
        let resumed = all(SourceFormat::Jsonl, JSONL, rows[1].2, 3).await;
        assert_eq!(resumed, rows[2..]);
    }
}
