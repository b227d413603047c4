//! Bulk import: uploading sources, queueing jobs, and reading their progress and
//! row outcomes. The jobs themselves run in [`crate::import::Runner`].

use uuid::Uuid;

use super::{Actor, Aegis};
use crate::authz::{require, Capability};
use crate::error::{Error, Result};
use crate::import::{
    Counters, ImportJob, ImportSource, JobStatus, Mapping, MappingError, RowReport, RowStatus,
    SourceFormat, SourceWriter, MAX_DETAILS,
};

/// Why a job could not be queued.
#[derive(Debug)]
pub enum StartImportError {
    /// The mapping breaks a rule, or does not fit the source's header.
    Mapping(MappingError),
    /// Anything else (unknown source: `NotFound("import source")`).
    Other(Error),
}

impl From<Error> for StartImportError {
    fn from(e: Error) -> Self {
        Self::Other(e)
    }
}

impl Aegis {
    /// Starts an upload (admins and the operator); write the bytes, then finish it.
    pub async fn begin_upload(&self, actor: &Actor, format: SourceFormat) -> Result<SourceWriter> {
        require(actor.rights(), Capability::Administer)?;
        let cfg = &self.config.import;
        let now = self.clock.now();
        let ttl = chrono::Duration::seconds(i64::try_from(cfg.source_ttl_s).unwrap_or(i64::MAX));
        SourceWriter::begin(
            std::sync::Arc::clone(&self.store),
            format,
            now,
            now + ttl,
            cfg.max_upload_bytes,
        )
        .await
    }

    /// A complete, unexpired source.
    pub async fn import_source(&self, actor: &Actor, id: Uuid) -> Result<ImportSource> {
        require(actor.rights(), Capability::Administer)?;
        self.store
            .find_import_source(id)
            .await?
            .filter(|s| s.expires_at > self.clock.now())
            .ok_or(Error::NotFound("import source"))
    }

    /// Queues a job importing `source` with `mapping` (admins and the operator). The
    /// mapping's own rules are checked first, then the source is looked up, then the
    /// mapping is bound to its header.
    pub async fn start_import(
        &self,
        actor: &Actor,
        name: &str,
        source: Uuid,
        mapping: Mapping,
    ) -> std::result::Result<ImportJob, StartImportError> {
        require(actor.rights(), Capability::Administer)?;
        mapping.check().map_err(StartImportError::Mapping)?;
        let source = self.import_source(actor, source).await?;
        let header: Vec<String> = source.fields.iter().map(|f| f.name.clone()).collect();
        mapping
            .compile(&header)
            .map_err(StartImportError::Mapping)?;
        let now = self.clock.now();
        let job = ImportJob {
            id: Uuid::now_v7(),
            name: name.to_owned(),
            source_id: source.id,
            format: source.format,
            mapping,
            status: JobStatus::Pending,
            counters: Counters::default(),
            offset: 0,
            error: None,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_import_job(&job).await?;
        self.runner.wake();
        tracing::info!(job = %job.id, source = %source.id, "import job queued");
        Ok(job)
    }

    /// A job with its current counters (admins and viewers).
    pub async fn import_job(&self, actor: &Actor, id: Uuid) -> Result<ImportJob> {
        require(actor.rights(), Capability::ReadDirectory)?;
        self.store
            .find_import_job(id)
            .await?
            .ok_or(Error::NotFound("import job"))
    }

    /// The recorded rows of a job with one of `statuses`, in file order, at most
    /// [`MAX_DETAILS`] (admins and viewers).
    pub async fn import_rows(
        &self,
        actor: &Actor,
        id: Uuid,
        statuses: &[RowStatus],
    ) -> Result<Vec<RowReport>> {
        require(actor.rights(), Capability::ReadDirectory)?;
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        self.store.import_rows(id, statuses, MAX_DETAILS).await
    }

    /// Every job, oldest first (admins and viewers).
    pub async fn import_jobs(&self, actor: &Actor) -> Result<Vec<ImportJob>> {
        require(actor.rights(), Capability::ReadDirectory)?;
        self.store.list_import_jobs().await
    }

    /// The job runner of this instance.
    pub fn import_runner(&self) -> &std::sync::Arc<crate::import::Runner> {
        &self.runner
    }
}
