//! Bulk import: sources uploaded once into the store (so any instance can run a job),
//! and jobs that stream a source, validate each row and write in batches.
//!
//! A job's checkpoint (the byte offset where the next row starts, and the counters)
//! is committed in the same transaction as each batch of users, and a job is owned by
//! one instance at a time through a renewable lease. An instance that dies mid-job
//! loses its lease; the next claimant resumes at the checkpoint, so every row lands
//! exactly once.
//!
//! Imported password hashes are stored as they are (in one of the text forms
//! [`crate::password::describe`] recognises), verified at login and replaced by an
//! argon2id hash on the first successful one.

pub mod hash;
pub mod mapping;
mod runner;
mod source;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::user::NewUser;

pub use mapping::{
    CompiledMapping, HashAlgorithm, HashParams, Mapping, MappingError, SaltOrder, Target,
};
pub use runner::{dry_run, ImportProgress, Runner};

pub use source::{infer_type, scan_fields, SourceReader, SourceWriter, SAMPLE_BYTES};

/// Sources are stored in chunks of exactly this many bytes (the last may be shorter).
pub const CHUNK_SIZE: usize = 1 << 20;
/// Most columns in a source header.
pub const MAX_COLUMNS: usize = 256;
/// Most detail rows one `import/get` answer carries.
pub const MAX_DETAILS: u32 = 100_000;

/// The file format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// RFC 4180 CSV, UTF-8, first row the header.
    Csv,
    /// One JSON object per line; keys are the columns.
    Jsonl,
}

impl SourceFormat {
    /// The storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
        }
    }

    /// Parses [`Self::as_str`]'s form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(Self::Csv),
            "jsonl" => Some(Self::Jsonl),
            _ => None,
        }
    }
}

/// The type a column's values look like (a hint for mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Bool,
    Int,
    Float,
    Date,
    Datetime,
    String,
}

impl FieldType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::Int => "int",
            Self::Float => "float",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::String => "string",
        }
    }
}

/// One column of a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceField {
    pub name: String,
    pub kind: FieldType,
}

/// An uploaded file, stored in chunks of [`CHUNK_SIZE`].
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSource {
    pub id: Uuid,
    pub format: SourceFormat,
    /// The header's columns in file order, with their inferred types.
    pub fields: Vec<SourceField>,
    /// Bytes in the file.
    pub size: u64,
    /// Number of chunks.
    pub chunks: u32,
    pub created_at: DateTime<Utc>,
    /// After this the source is gone (jobs still running on it fail).
    pub expires_at: DateTime<Utc>,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Queued or running.
    Pending,
    /// Every row was processed (some may have failed or been skipped).
    Success,
    /// The job could not run to the end; rows already committed stay.
    Failed,
}

impl JobStatus {
    /// The storage and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failed => "failed",
        }
    }

    /// Parses [`Self::as_str`]'s form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "success" => Some(Self::Success),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Rows processed so far; `total = successful + failed + skipped`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub total: u64,
    pub successful: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl Counters {
    /// Adds one row's outcome.
    pub fn count(&mut self, status: RowStatus) {
        self.total += 1;
        match status {
            RowStatus::Success => self.successful += 1,
            RowStatus::Failed => self.failed += 1,
            RowStatus::Skipped => self.skipped += 1,
        }
    }
}

/// An import job.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportJob {
    pub id: Uuid,
    pub name: String,
    pub source_id: Uuid,
    pub format: SourceFormat,
    pub mapping: Mapping,
    pub status: JobStatus,
    pub counters: Counters,
    /// Byte offset in the source where the next unprocessed row starts; 0 before the
    /// header has been read.
    pub offset: u64,
    /// Why a failed job stopped (safe to show: never a value from the file).
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What happened to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowStatus {
    /// A user was created.
    Success,
    /// The email or username already existed; the existing user was left as it was.
    Skipped,
    /// A value was invalid; nothing was written.
    Failed,
}

impl RowStatus {
    /// The storage and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }

    /// Parses [`Self::as_str`]'s form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Self::Success),
            "skipped" => Some(Self::Skipped),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// The recorded outcome of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowReport {
    /// Data row number, from 1 (the header is not counted).
    pub row: u64,
    pub status: RowStatus,
    /// The created user, or the existing one for a skipped row.
    pub user_id: Option<Uuid>,
    /// `row N: created`, `row N: email: already exists`, `row N: field: reason`.
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// One row of a batch, as validated by the core.
#[derive(Debug, Clone)]
pub enum RowInput {
    /// A valid row: create this user unless its email or username exists.
    Create(Box<NewUser>),
    /// An invalid row, with its `row N: field: reason` message.
    Failed(String),
}

/// Rows to commit together with the job's new checkpoint.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Consecutive data rows, numbered from 1.
    pub rows: Vec<(u64, RowInput)>,
    /// Byte offset where the row after this batch starts.
    pub offset: u64,
}

impl Batch {
    /// Every distinct key of the identifier table the batch's users would
    /// hold or probe (their identifiers and confusable skeletons).
    pub fn identifiers(&self) -> Vec<std::borrow::Cow<'_, str>> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (_, input) in &self.rows {
            if let RowInput::Create(user) = input {
                let keys = user.identifier_keys();
                for key in keys.held.into_iter().chain(keys.probes) {
                    if seen.insert(key.clone()) {
                        out.push(key);
                    }
                }
            }
        }
        out
    }
}

/// When a batch may commit.
///
/// On a store that writes in parallel, the runner writes the next batch while
/// the one before it is still committing. The store does the writing, then
/// waits for the batch's turn before it touches the job (lease, counters,
/// checkpoint) and commits, so checkpoints commit in row order and a crash
/// always leaves a prefix of the source written, each row once.
#[derive(Debug)]
pub struct Turn {
    state: TurnState,
    /// How long [`Turn::wait`] waited.
    waited: std::time::Duration,
}

#[derive(Debug)]
enum TurnState {
    Waiting(tokio::sync::oneshot::Receiver<()>, std::time::Duration),
    Granted,
    Refused,
}

/// Gives the [`Turn`] it was made with; dropping it refuses the turn.
#[derive(Debug)]
pub struct Grant(tokio::sync::oneshot::Sender<()>);

impl Grant {
    /// The batch before committed: the next may commit too.
    pub fn give(self) {
        let _ = self.0.send(());
    }
}

impl Turn {
    /// No batch before this one is in flight.
    pub fn now() -> Self {
        Self {
            state: TurnState::Granted,
            waited: std::time::Duration::ZERO,
        }
    }

    /// A turn that comes when the [`Grant`] is given, refused when it is dropped
    /// or not given within `limit` (a writer blocked by another one, outside
    /// what the database can see, must not wait for ever: the runner writes a
    /// batch whose turn came too late again, alone, once the ones before it
    /// are committed).
    pub fn after(limit: std::time::Duration) -> (Self, Grant) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let turn = Self {
            state: TurnState::Waiting(rx, limit),
            waited: std::time::Duration::ZERO,
        };
        (turn, Grant(tx))
    }

    /// Waits for the turn: `Ok` when the batch may commit (at once on later
    /// calls), `Err(Conflict { field: "turn" })` when it must roll back instead.
    pub async fn wait(&mut self) -> crate::Result<()> {
        if let TurnState::Waiting(rx, limit) = &mut self.state {
            let started = std::time::Instant::now();
            let given = matches!(tokio::time::timeout(*limit, rx).await, Ok(Ok(())));
            self.waited = started.elapsed();
            self.state = if given {
                TurnState::Granted
            } else {
                TurnState::Refused
            };
        }
        match self.state {
            TurnState::Refused => Err(crate::Error::Conflict { field: "turn" }),
            _ => Ok(()),
        }
    }

    /// The end of the job's lease that a batch started with `until` writes:
    /// moved by the time the batch waited for its turn, so that a lease renewed
    /// by a commit runs its full length from about then, however long the batch
    /// before took.
    pub fn lease_end(&self, until: DateTime<Utc>) -> DateTime<Utc> {
        chrono::Duration::from_std(self.waited)
            .ok()
            .and_then(|waited| until.checked_add_signed(waited))
            .unwrap_or(until)
    }
}

/// Neutralises a value that a spreadsheet would read as a formula (OWASP: a leading
/// `=`, `+`, `-`, `@`, tab or carriage return gets a `'` in front).
pub fn neutralise_formula(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}").into(),
        _ => value.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(neutralise_formula("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(neutralise_formula("@cmd"), "'@cmd");
        assert_eq!(
            neutralise_formula("row 3: email: invalid"),
            "row 3: email: invalid"
        );
    }

    #[test]
    fn counters_add_up() {
        let mut c = Counters::default();
        for s in [
            RowStatus::Success,
            RowStatus::Failed,
            RowStatus::Skipped,
            RowStatus::Success,
        ] {
            c.count(s);
        }
        assert_eq!((c.total, c.successful, c.failed, c.skipped), (4, 2, 1, 1));
    }
}
