//! Online backup and restore of the embedded SQLite database.
//!
//! A backup is `VACUUM INTO`: SQLite writes a consistent, compacted copy of the
//! database as of one read transaction, while the server keeps serving (readers
//! and writers are not blocked for its duration in WAL mode). It is written to a
//! temporary name beside the target and renamed into place, so a crash never
//! leaves a half-written backup under the requested name.
//!
//! A restore checks the file (integrity, an aegis schema no newer than this
//! build), brings it up to the current schema, keeps a consistent copy of the
//! database it replaces beside it, and swaps the files. It refuses while a
//! server has the database open (see [`ServeLock`]).
//!
//! PostgreSQL is backed up with its own tools (`pg_dump`/`pg_restore`);
//! [`postgres_instructions`] says how.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

use crate::sqlite::MIGRATOR;

/// Why a backup or restore did not happen; the message is for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupError(pub String);

impl std::fmt::Display for BackupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackupError {}

type Result<T> = std::result::Result<T, BackupError>;

fn refuse(why: impl Into<String>) -> BackupError {
    BackupError(why.into())
}

/// What a backup or restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// Users in the copied database.
    pub users: u64,
    /// Size of the copy in bytes.
    pub bytes: u64,
    /// Restore only: where the replaced database was kept.
    pub previous: Option<PathBuf>,
}

/// The SQLite database file a `sqlite:` URL names (not an in-memory one).
pub fn sqlite_path(url: &str) -> Result<PathBuf> {
    if !url.starts_with("sqlite:") {
        return Err(refuse(
            "backup and restore here are for SQLite; for PostgreSQL use pg_dump and pg_restore",
        ));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|_| refuse("the database is not a valid SQLite URL"))?;
    let path = options.get_filename().to_path_buf();
    if url.contains(":memory:") || url.contains("mode=memory") || path.as_os_str().is_empty() {
        return Err(refuse("an in-memory database has nothing to back up"));
    }
    Ok(path)
}

/// A lock a running server holds (shared) on `<database>.lock`, and a restore
/// takes exclusively: a restore never swaps the file under a live server.
pub struct ServeLock(#[allow(dead_code)] File);

impl ServeLock {
    fn path(db: &Path) -> PathBuf {
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    fn open(db: &Path) -> Result<File> {
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(Self::path(db))
            .map_err(|e| io("opening the database lock", e))
    }

    /// Held by `aegis serve` on SQLite for as long as it runs (several servers
    /// may share it).
    pub fn serve(url: &str) -> Result<Option<Self>> {
        let Ok(db) = sqlite_path(url) else {
            return Ok(None);
        };
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io("creating the database directory", e))?;
        }
        let file = Self::open(&db)?;
        file.try_lock_shared()
            .map_err(|_| refuse("a restore is running on this database"))?;
        Ok(Some(Self(file)))
    }

    fn exclusive(db: &Path) -> Result<Self> {
        let file = Self::open(db)?;
        file.try_lock()
            .map_err(|_| refuse("a server is running on this database: stop it first"))?;
        Ok(Self(file))
    }
}

fn io(what: &str, e: std::io::Error) -> BackupError {
    refuse(format!("{what}: {e}"))
}

fn db(what: &str, e: sqlx::Error) -> BackupError {
    refuse(format!("{what}: {e}"))
}

/// Writes a consistent copy of the SQLite database `url` names to `to`, which
/// must not exist yet.
pub async fn backup_sqlite(url: &str, to: &Path) -> Result<BackupSummary> {
    let source = sqlite_path(url)?;
    if !source.exists() {
        return Err(refuse(format!(
            "there is no database at {}",
            source.display()
        )));
    }
    if to.exists() {
        return Err(refuse(format!("{} exists already", to.display())));
    }
    let tmp = sibling(to, ".partial");
    let _ = std::fs::remove_file(&tmp);
    let mut conn = open(&source, false).await?;
    let target = tmp
        .to_str()
        .ok_or_else(|| refuse("the backup path is not UTF-8"))?;
    let vacuum = sqlx::query("VACUUM INTO ?1")
        .bind(target)
        .execute(&mut conn)
        .await;
    conn.close().await.ok();
    if let Err(e) = vacuum {
        let _ = std::fs::remove_file(&tmp);
        return Err(db("writing the backup", e));
    }
    let summary = check(&tmp).await.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("syncing the backup", e))?;
    std::fs::rename(&tmp, to).map_err(|e| io("naming the backup", e))?;
    Ok(summary)
}

/// Replaces the SQLite database `url` names with the backup `from`; the
/// replaced database (if any) is kept as `<database>.before-restore-<unix time>`.
pub async fn restore_sqlite(url: &str, from: &Path, now_unix: i64) -> Result<BackupSummary> {
    let target = sqlite_path(url)?;
    if !from.is_file() {
        return Err(refuse(format!("there is no file at {}", from.display())));
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io("creating the database directory", e))?;
    }
    let _lock = ServeLock::exclusive(&target)?;
    check(from).await?;
    // Work on a copy: the backup file itself is never changed.
    let staged = sibling(&target, ".restoring");
    let _ = std::fs::remove_file(&staged);
    std::fs::copy(from, &staged).map_err(|e| io("copying the backup", e))?;
    let staged_ok = async {
        let mut conn = open(&staged, true).await?;
        MIGRATOR
            .run(&mut conn)
            .await
            .map_err(|e| refuse(format!("upgrading the backup's schema: {e}")))?;
        // Back to a single file (the copy is not in WAL use by anyone else).
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .map_err(|e| db("checkpointing the restored copy", e))?;
        conn.close().await.ok();
        check(&staged).await
    }
    .await;
    let summary = match staged_ok {
        Ok(s) => s,
        Err(e) => {
            remove_with_sidecars(&staged);
            return Err(e);
        }
    };
    let previous = if target.exists() {
        let kept = sibling(&target, &format!(".before-restore-{now_unix}"));
        let mut conn = open(&target, false).await?;
        let path = kept
            .to_str()
            .ok_or_else(|| refuse("the database path is not UTF-8"))?;
        sqlx::query("VACUUM INTO ?1")
            .bind(path)
            .execute(&mut conn)
            .await
            .map_err(|e| db("keeping the replaced database", e))?;
        conn.close().await.ok();
        remove_with_sidecars(&target);
        Some(kept)
    } else {
        None
    };
    remove_sidecars(&staged);
    std::fs::rename(&staged, &target).map_err(|e| io("placing the restored database", e))?;
    Ok(BackupSummary {
        previous,
        ..summary
    })
}

/// Opens a database file (never creating one).
async fn open(path: &Path, writable: bool) -> Result<SqliteConnection> {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(!writable)
        .create_if_missing(false)
        .foreign_keys(true)
        .busy_timeout(std::time::Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| db("opening the database", e))
}

/// An intact aegis database, with no migration this build does not know.
async fn check(path: &Path) -> Result<BackupSummary> {
    let bad = |why: &str| refuse(format!("{} {why}", path.display()));
    let mut conn = open(path, false)
        .await
        .map_err(|_| bad("is not a SQLite database"))?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(|_| bad("is not a SQLite database"))?;
    if integrity != "ok" {
        return Err(bad("fails SQLite's integrity check"));
    }
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&mut conn)
        .await
        .map_err(|_| bad("is not an aegis database"))?;
    let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    if versions.iter().any(|v| !known.contains(v)) {
        return Err(bad(
            "comes from a newer aegis: restore it with that version",
        ));
    }
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut conn)
        .await
        .map_err(|_| bad("is not an aegis database"))?;
    conn.close().await.ok();
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(BackupSummary {
        users: u64::try_from(users).unwrap_or(0),
        bytes,
        previous: None,
    })
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_sidecars(path: &Path) {
    for s in ["-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(sibling(path, s));
    }
}

fn remove_with_sidecars(path: &Path) {
    let _ = std::fs::remove_file(path);
    remove_sidecars(path);
}

/// How to back up and restore a PostgreSQL database (its own tools do it
/// best: consistent, online, parallel).
pub fn postgres_instructions() -> &'static str {
    "PostgreSQL databases are backed up with PostgreSQL's own tools, online and consistent:\n\
     \n  pg_dump --format=custom --file=aegis.dump \"$AEGIS_DATABASE_URL\"\n\
     \nand restored (server stopped, into an empty database) with:\n\
     \n  pg_restore --no-owner --exit-on-error --dbname=\"$AEGIS_DATABASE_URL\" aegis.dump\n\
     \nthen `aegis migrate` if the dump comes from an older aegis. Keep the key-encryption\n\
     key (kek / kek_file) with the dump: TOTP secrets and signing keys are sealed with it.\n"
}
