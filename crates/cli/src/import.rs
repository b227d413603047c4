//! `aegis import FILE`: the same importer the API runs, from the console, with a
//! progress bar. The file is uploaded into the store as a source and queued as a
//! job; this process runs queued jobs until its own has ended (a server sharing
//! the database may take part), and the bar follows the job's stored counters.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aegis_core::import::mapping::{FieldMapping, MappingErrorKind};
use aegis_core::import::{
    dry_run, neutralise_formula, scan_fields, HashAlgorithm, HashParams, JobStatus, Mapping,
    MappingError, RowInput, RowStatus, SourceFormat, Target, SAMPLE_BYTES,
};
use aegis_core::service::StartImportError;
use aegis_core::{Actor, SystemClock};
use aegis_server::Config;
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::AsyncReadExt;

/// Failed rows printed at the end.
const SHOWN_FAILURES: usize = 20;

/// What `aegis import` was asked to do.
pub struct ImportArgs {
    pub file: std::path::PathBuf,
    pub format: Option<SourceFormat>,
    pub mapping: Option<std::path::PathBuf>,
    pub name: Option<String>,
    pub dry_run: bool,
    /// Failed rows do not make the exit status non-zero.
    pub allow_failed_rows: bool,
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    let template = format!("{what} [{{bar:40}}] {{bytes}}/{{total_bytes}} {{msg}} ETA {{eta}}");
    pb.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

fn format_of(args: &ImportArgs) -> SourceFormat {
    args.format
        .unwrap_or_else(|| match args.file.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson") => SourceFormat::Jsonl,
            _ => SourceFormat::Csv,
        })
}

/// The mapping file's, or one by column names: a column named like a user field
/// (`email`, `username`, `phone`, `verified`, `disabled`, `password`,
/// `password_salt`, `first_name`, `last_name`) fills it; a `password` column holds
/// complete stored hashes of any supported format.
fn mapping_for(path: Option<&Path>, header: &[String]) -> anyhow::Result<Mapping> {
    if let Some(path) = path {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the mapping {}", path.display()))?;
        return serde_json::from_str(&text)
            .with_context(|| format!("the mapping {} is not valid", path.display()));
    }
    let mut fields = Vec::new();
    let mut ignored = Vec::new();
    for column in header {
        let target = match column.as_str() {
            "email" => Target::Email,
            "username" => Target::Username,
            "phone" => Target::Phone,
            "verified" => Target::Verified,
            "disabled" => Target::Disabled,
            "password" => Target::Password,
            "password_salt" => Target::PasswordSalt,
            "first_name" | "last_name" => Target::Profile(column.clone()),
            _ => {
                ignored.push(column.as_str());
                continue;
            }
        };
        fields.push(FieldMapping {
            column: column.clone(),
            target,
        });
    }
    if !ignored.is_empty() {
        eprintln!("ignoring columns without a mapping: {}", ignored.join(", "));
    }
    let password = fields
        .iter()
        .any(|f| f.target == Target::Password)
        .then(|| HashParams::new(HashAlgorithm::Auto));
    Ok(Mapping { fields, password })
}

/// What is wrong with a mapping, and what to do about it, in words.
fn explain(e: &MappingError, mapping: &Mapping, header: &[String]) -> String {
    let at = e
        .index
        .and_then(|i| mapping.fields.get(i))
        .map(|f| format!(" (column {:?} → {})", f.column, f.target.name()))
        .unwrap_or_default();
    let what = match &e.kind {
        MappingErrorKind::NoEmail => {
            let seen = header
                .iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            // One column holding another separator: the file is not comma-separated.
            let other = match header {
                [only] => [';', '\t', '|']
                    .into_iter()
                    .find(|d| only.contains(*d))
                    .map(|d| {
                        format!(
                            "; the header is one column that contains {d:?}: CSV files are read \
                             with ',' as the delimiter, so save the file comma-separated"
                        )
                    })
                    .unwrap_or_default(),
                _ => String::new(),
            };
            format!(
                "no column holds the email: add an `email` column, or map one to `email` with \
                 --mapping FILE (columns seen, with ',' as the delimiter: {seen}){other}"
            )
        }
        MappingErrorKind::Duplicate => "two columns map to the same field".into(),
        MappingErrorKind::BadProfileKey => "a profile key that is not allowed".into(),
        MappingErrorKind::NoHashParams => {
            "a password column needs hash parameters in the mapping (`password`)".into()
        }
        MappingErrorKind::BadHashParams(reason) => format!("bad hash parameters: {reason}"),
        MappingErrorKind::UnknownColumn => "the column is not in the file's header".into(),
    };
    format!("the mapping is not usable: {what}{at}")
}

/// The outcome of an import with failed rows, unless they are allowed.
fn failed_rows(failed: u64, allow: bool) -> anyhow::Result<()> {
    if failed > 0 && !allow {
        bail!("{failed} rows failed (--allow-failed-rows accepts that)");
    }
    Ok(())
}

/// Runs `aegis import`.
pub async fn run(config: Config, args: ImportArgs) -> anyhow::Result<()> {
    let format = format_of(&args);
    let mut file = tokio::fs::File::open(&args.file)
        .await
        .with_context(|| format!("opening {}", args.file.display()))?;
    let size = file.metadata().await?.len();
    let mut sample = Vec::new();
    (&mut file)
        .take(SAMPLE_BYTES as u64)
        .read_to_end(&mut sample)
        .await?;
    let fields = scan_fields(format, &sample, sample.len() as u64 == size)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let header: Vec<String> = fields.into_iter().map(|f| f.name).collect();
    let mapping = mapping_for(args.mapping.as_deref(), &header)?;
    let compiled = mapping
        .compile(&header)
        .map_err(|e| anyhow::anyhow!(explain(&e, &mapping, &header)))?;
    if args.dry_run {
        let file = tokio::fs::File::open(&args.file).await?;
        let pb = bar(size, "checking");
        let mut failures = Vec::new();
        let started = Instant::now();
        let counters = dry_run(
            format,
            file,
            header,
            compiled,
            aegis_core::Clock::now(&SystemClock),
            |_, input, offset| {
                if let RowInput::Failed(m) = input {
                    if failures.len() < SHOWN_FAILURES {
                        failures.push(m.clone());
                    }
                }
                pb.set_position(offset);
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        pb.finish_and_clear();
        for f in &failures {
            println!("{}", neutralise_formula(f));
        }
        println!(
            "dry run: {} rows, {} valid, {} invalid ({:.1}s); nothing was written",
            counters.total,
            counters.successful,
            counters.failed,
            started.elapsed().as_secs_f64()
        );
        return failed_rows(counters.failed, args.allow_failed_rows);
    }
    drop(compiled);
    let state = aegis_server::bootstrap::state(config, Arc::new(SystemClock)).await?;
    let aegis = Arc::clone(&state.aegis);
    let actor = Actor::System;

    // Upload.
    let mut writer = aegis
        .begin_upload(&actor, format)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let pb = bar(size, "uploading");
    let mut file = tokio::fs::File::open(&args.file).await?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        if let Err(e) = writer.write(&buf[..n]).await {
            writer.abort().await;
            bail!("{}: {e}", args.file.display());
        }
        pb.inc(n as u64);
    }
    pb.finish_and_clear();
    let source = writer
        .finish()
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;

    // Queue, then run queued jobs here while following this one.
    let name = args.name.clone().unwrap_or_else(|| {
        args.file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "import".into())
    });
    let job = aegis
        .start_import(&actor, &name, source.id, mapping.clone())
        .await
        .map_err(|e| match e {
            StartImportError::Mapping(e) => anyhow::anyhow!(explain(&e, &mapping, &header)),
            StartImportError::Other(e) => anyhow::anyhow!("{e}"),
        })?;
    let work = || {
        let runner = Arc::clone(aegis.import_runner());
        tokio::spawn(async move { runner.run_pending(|_| {}).await })
    };
    let mut worker = work();
    let started = Instant::now();
    let pb = bar(source.size, "importing");
    let job = loop {
        let now = aegis
            .import_job(&actor, job.id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let c = now.counters;
        let secs = started.elapsed().as_secs_f64().max(0.001);
        pb.set_position(now.offset);
        pb.set_message(format!(
            "{} rows ({} created, {} skipped, {} failed) {:.0} rows/s",
            c.total,
            c.successful,
            c.skipped,
            c.failed,
            c.total as f64 / secs
        ));
        if now.status != JobStatus::Pending {
            break now;
        }
        if worker.is_finished() {
            // Ours is held by another instance, or the store failed under this one:
            // try again, to take the job over once its lease has run out.
            match (&mut worker).await {
                Ok(Err(e)) => eprintln!("import worker: {e}; retrying"),
                Err(e) => eprintln!("import worker: {e}; retrying"),
                Ok(Ok(_)) => {}
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            worker = work();
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    pb.finish_and_clear();
    let failed = aegis
        .import_rows(&actor, job.id, &[RowStatus::Failed])
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for row in failed.iter().take(SHOWN_FAILURES) {
        println!("{}", neutralise_formula(&row.message));
    }
    if failed.len() > SHOWN_FAILURES {
        println!(
            "… and {} more failed rows",
            job.counters.failed - SHOWN_FAILURES as u64
        );
    }
    let c = job.counters;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "import {} {}: {} rows, {} created, {} skipped, {} failed in {:.1}s ({:.0} rows/s)",
        job.id,
        job.status.as_str(),
        c.total,
        c.successful,
        c.skipped,
        c.failed,
        secs,
        c.total as f64 / secs.max(0.001)
    );
    if job.status == JobStatus::Failed {
        bail!(
            "the import stopped: {}",
            job.error.as_deref().unwrap_or("unknown reason")
        );
    }
    failed_rows(c.failed, args.allow_failed_rows)
}
