//! Start-up: resolve the key-encryption key, open the store, build the services.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use aegis_core::keys::Kek;
use aegis_core::{Aegis, Clock, Store};
use anyhow::{bail, Context};

use crate::config::Config;
use crate::state::AppState;

const KEK_FILE: &str = "kek";

/// The KEK from the configuration, else from `<data_dir>/kek` (created with mode
/// 0600 on first start; refused if other users can read it).
pub fn resolve_kek(config: &Config) -> anyhow::Result<Kek> {
    if let Some(text) = &config.kek {
        return Kek::from_base64(text).map_err(|e| anyhow::anyhow!("kek: {e}"));
    }
    let path = config.data_dir.join(KEK_FILE);
    if !path.exists() {
        ensure_data_dir(config)?;
        let kek = Kek::generate();
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(kek.to_base64().as_bytes())?;
                f.sync_all()?;
                tracing::info!(path = %path.display(), "created a new key-encryption key");
                return Ok(kek);
            }
            // Another process created it first: read theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }
    read_kek_file(&path)
}

fn read_kek_file(path: &Path) -> anyhow::Result<Kek> {
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by other users (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        );
    }
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Kek::from_base64(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Builds the application state on an already opened store.
pub async fn state_with_store(
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<AppState> {
    let kek = resolve_kek(&config)?;
    let mut core = config.core.clone();
    core.reauth_window_s = config.web.reauth_window_s;
    if let Some(url) = &config.public_url {
        core.oidc.issuer = url.trim_end_matches('/').to_owned();
    }
    let aegis = Aegis::new(store, clock, core, &kek)
        .await
        .map_err(|e| anyhow::anyhow!("starting the identity core: {e}"))?;
    Ok(AppState {
        aegis,
        config: Arc::new(config),
        sampled: Arc::default(),
    })
}

/// Creates the data directory private to this user (it holds the SQLite
/// database with password hashes, and the key-encryption key).
pub fn ensure_data_dir(config: &Config) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !config.data_dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
    }
    Ok(())
}

/// Opens the configured store (creating and migrating it) and builds the state.
pub async fn state(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    ensure_data_dir(&config)?;
    let url = config.database_url();
    let store = aegis_store::connect_with(&url, config.store_options())
        .await
        .map_err(|e| anyhow::anyhow!("opening the database: {e}"))?;
    state_with_store(config, store, clock).await
}

/// Runs housekeeping (purging long-expired tokens, sessions and throttle
/// counters) every hour until the process ends.
pub fn spawn_housekeeping(state: &AppState) -> tokio::task::JoinHandle<()> {
    let aegis = Arc::clone(&state.aegis);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match aegis.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "purged expired records"),
                Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
            }
        }
    })
}

/// Runs queued import jobs in the background (unless `import.run_jobs` is off).
pub fn spawn_import_worker(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    if !state.aegis.config().import.run_jobs {
        return None;
    }
    let runner = Arc::clone(state.aegis.import_runner());
    Some(tokio::spawn(runner.work()))
}
