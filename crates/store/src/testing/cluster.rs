//! A throwaway PostgreSQL cluster that a test makes, stops and starts itself
//! (`initdb` + `pg_ctl` in a temporary directory, on a free port), for what
//! the shared test server cannot be put through: the database going away and
//! coming back. Never the machine's own cluster.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use aegis_store::testing::cluster::ScratchCluster;
//! let Some(cluster) = ScratchCluster::create().await? else {
//!     eprintln!("skipping: no PostgreSQL server binaries");
//!     return Ok(());
//! };
//! let url = cluster.url();
//! // ... open a store on `url` ...
//! cluster.stop().await?;  // the database is away
//! cluster.start().await?; // and back, on the same port
//! # Ok(()) }
//! ```
//!
//! The binaries are taken from `AEGIS_TEST_PG_BIN` (a directory), else the
//! newest `/usr/lib/postgresql/<version>/bin` (Debian, Ubuntu), else the `PATH`.
//! `initdb` refuses to run as root, so as root every command runs as the
//! `postgres` user (`runuser -u postgres --`) in a directory it owns.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

/// The environment variable naming a directory with `initdb` and `pg_ctl`.
pub const PG_BIN_ENV: &str = "AEGIS_TEST_PG_BIN";

/// A private PostgreSQL cluster, stopped and deleted when dropped.
#[derive(Debug)]
pub struct ScratchCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Run the server's commands as the `postgres` user (we are root).
    as_postgres: bool,
}

impl ScratchCluster {
    /// Makes a cluster (trust authentication, user `postgres`) and starts it.
    /// `Ok(None)` when the server binaries are not installed.
    ///
    /// # Panics
    /// When the binaries are missing and `CI` is set: CI must run these tests.
    pub async fn create() -> io::Result<Option<Self>> {
        let Some(bin) = find_bin() else {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "PostgreSQL server binaries (initdb, pg_ctl) not found: install them \
                     or set {PG_BIN_ENV}; CI may not skip the database-outage tests"
                );
            }
            return Ok(None);
        };
        let as_postgres = is_root().await;
        let dir = std::env::temp_dir().join(format!("aegis-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir)?;
        let cluster = Self {
            dir,
            bin,
            port: free_port()?,
            as_postgres,
        };
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(&cluster.dir)).await?;
        }
        cluster
            .pg("initdb")
            .arg("-D")
            .arg(cluster.data())
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .run()
            .await?;
        cluster.start().await?;
        Ok(Some(cluster))
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port the cluster listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the server and waits until it accepts connections.
    pub async fn start(&self) -> io::Result<()> {
        // No fsync (the OS keeps what a killed server wrote), but commits do
        // reach the WAL: an immediate stop must not lose committed rows.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c full_page_writes=off -c shared_buffers=16MB",
            self.port,
            self.dir.display()
        );
        let started = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .run()
            .await;
        started.map_err(|e| {
            let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
            io::Error::other(format!("{e}\nserver log:\n{log}"))
        })
    }

    /// Stops the server at once, as a crash or a pulled cable would
    /// (`pg_ctl stop -m immediate`): open connections break, new ones are refused.
    pub async fn stop(&self) -> io::Result<()> {
        self.pg("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-m", "immediate", "stop"])
            .run()
            .await
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// One of the server's programs, run as the `postgres` user when we are root.
    fn pg(&self, program: &str) -> Cmd {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        // The server must not inherit a test's PG* variables.
        cmd.env_remove("PGDATA")
            .env_remove("PGPORT")
            .env_remove("PGHOST");
        Cmd(cmd)
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        let ctl = self.bin.join("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(ctl);
            c
        } else {
            std::process::Command::new(ctl)
        };
        // Already stopped is fine; the directory goes either way.
        let _ = cmd
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Cmd(Command);

impl Cmd {
    fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Self {
        self.0.arg(a);
        self
    }
    fn args<I, S>(mut self, a: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.0.args(a);
        self
    }
    async fn run(mut self) -> io::Result<()> {
        run(&mut self.0).await
    }
}

/// Runs a command to its end; a failure carries its output.
async fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.stdin(Stdio::null()).output().await?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{:?} failed ({}): {}{}",
        cmd.as_std().get_program(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )))
}

/// The directory holding `initdb` and `pg_ctl`.
fn find_bin() -> Option<PathBuf> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os(PG_BIN_ENV) {
        return Some(PathBuf::from(dir)).filter(|d| has_tools(d));
    }
    // Debian and Ubuntu: /usr/lib/postgresql/<major>/bin, the newest first.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            Some((major, e.path().join("bin")))
        })
        .filter(|(_, d)| has_tools(d))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Some(dir);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|d| has_tools(d))
}

async fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().await;
    out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A port nobody listens on right now.
fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
