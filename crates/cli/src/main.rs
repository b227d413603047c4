//! The `aegis` binary: serve, migrate, and operator commands for users, tokens
//! and bulk imports.

mod client;
mod config;
mod import;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use aegis_core::api_token::CreateApiTokenRequest;
use aegis_core::service::CreateUserRequest;
use aegis_core::{Actor, Clock, Role, SystemClock};
use aegis_server::config::LogFormat;
use aegis_server::Config;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};

/// aegis: self-hosted authentication and user management.
#[derive(Parser)]
#[command(name = "aegis", version)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// TOML configuration file.
    #[arg(long, global = true, env = "AEGIS_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://… (default: SQLite in the data dir).
    #[arg(long, global = true, env = "AEGIS_DATABASE_URL")]
    database: Option<String>,
    /// Data directory (default ./data).
    #[arg(long, global = true, env = "AEGIS_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the server.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, env = "AEGIS_LISTEN")]
        listen: Option<SocketAddr>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Write a consistent copy of the SQLite database while the server runs
    /// (PostgreSQL: prints how to use pg_dump).
    Backup {
        /// The backup file to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Replace the SQLite database with a backup (the server must be stopped;
    /// the replaced database is kept beside it).
    Restore {
        /// The backup file to restore.
        #[arg(long)]
        from: PathBuf,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage OpenID Connect clients (applications that sign in with aegis).
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Import users from a CSV or JSONL file, with a progress bar.
    Import {
        /// The file to import.
        file: PathBuf,
        /// File format (default: by extension, `.jsonl`/`.ndjson` else CSV).
        #[arg(long, value_parser = parse_format)]
        format: Option<aegis_core::import::SourceFormat>,
        /// JSON mapping of columns to user fields (default: columns named like the fields).
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Name of the import job (default: the file name).
        #[arg(long)]
        name: Option<String>,
        /// Validate every row without writing anything.
        #[arg(long)]
        dry_run: bool,
        /// Exit with success even when rows failed (by default failed rows
        /// make the exit status non-zero, after the summary).
        #[arg(long)]
        allow_failed_rows: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration (file, environment, flags) and print the
    /// effective settings as TOML, secrets masked.
    Check,
    /// Print a commented sample `aegis.toml` documenting every setting.
    Sample,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from the first line of stdin.
    Create {
        #[arg(long)]
        email: String,
        /// Defaults to the email.
        #[arg(long)]
        username: Option<String>,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from stdin (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Mint an API token for a user; prints only the token.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Lifetime in seconds.
        #[arg(long)]
        expiry: i64,
        #[arg(long, default_value = "local")]
        provider: String,
        #[arg(long)]
        name: Option<String>,
    },
}

fn parse_format(s: &str) -> Result<aegis_core::import::SourceFormat, String> {
    aegis_core::import::SourceFormat::parse(s).ok_or_else(|| "must be csv or jsonl".to_owned())
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|_| "must be one of admin, view, user".to_owned())
}

/// Logs to stderr through a writer thread: a request thread formats its line
/// and hands it over instead of making a write call of its own (at INFO, one
/// access line a request, that call cost about a quarter of the token-check
/// rate). Lines are written in batches and not dropped while aegis runs: a
/// full queue (128k lines) makes the logging thread wait. Dropping the guard
/// writes out what is queued; tracing-appender gives that one second, so a
/// backlog behind a stalled stderr at exit can lose its last lines.
///
/// `default` is the level when `AEGIS_LOG` is unset: `info` for the server,
/// `warn` for one-shot commands, whose own output (a progress bar, a summary)
/// INFO lines would break into.
fn init_logging(format: LogFormat, default: &str) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("AEGIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("aegis-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    if format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
    guard
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Config(ConfigCommand::Sample) = cli.command {
        print!("{}", config::SAMPLE);
        return ExitCode::SUCCESS;
    }
    let loaded = config::load(&config::Sources {
        file: cli.global.config.as_deref(),
        database: cli.global.database.clone(),
        data_dir: cli.global.data_dir.clone(),
    });
    let config = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Command::Config(ConfigCommand::Check) = cli.command {
        return match config::effective_toml(&config) {
            Ok(text) => {
                eprintln!("configuration is valid");
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let level = match cli.command {
        Command::Serve { .. } | Command::Migrate => "info",
        _ => "warn",
    };
    let logs = init_logging(config.log_format, level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            drop(logs);
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli.command, config));
    drop(runtime);
    // Everything logged is written before the last word.
    drop(logs);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Config(_) => Ok(()),
        Command::Serve { listen } => serve(config, listen).await,
        Command::Migrate => migrate(config).await,
        Command::Backup { to } => backup(config, to).await,
        Command::Restore { from } => restore(config, from).await,
        Command::User(UserCommand::Create {
            email,
            username,
            role,
            password_stdin: _,
        }) => create_user(config, email, username, role).await,
        Command::Token(TokenCommand::Create {
            email,
            role,
            expiry,
            provider,
            name,
        }) => create_token(config, email, role, expiry, provider, name).await,
        Command::Client(command) => client::run(config, command).await,
        Command::Import {
            file,
            format,
            mapping,
            name,
            dry_run,
            allow_failed_rows,
        } => {
            import::run(
                config,
                import::ImportArgs {
                    file,
                    format,
                    mapping,
                    name,
                    dry_run,
                    allow_failed_rows,
                },
            )
            .await
        }
    }
}

async fn serve(mut config: Config, listen: Option<SocketAddr>) -> anyhow::Result<()> {
    if let Some(addr) = listen {
        config.listen = addr;
    }
    let addr = config.listen;
    // Held while serving: `aegis restore` refuses to swap the database under us.
    aegis_server::bootstrap::ensure_data_dir(&config)?;
    let _serving = aegis_store::backup::ServeLock::serve(&config.database_url())?;
    let state = aegis_server::bootstrap::state(config, Arc::new(SystemClock)).await?;
    let housekeeping = aegis_server::bootstrap::spawn_housekeeping(&state);
    let importer = aegis_server::bootstrap::spawn_import_worker(&state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let metrics = match state.config.metrics.listen {
        Some(maddr) if state.config.metrics.enabled => {
            let listener = tokio::net::TcpListener::bind(maddr)
                .await
                .with_context(|| format!("binding metrics.listen {maddr}"))?;
            tracing::info!(addr = %maddr, "metrics listening");
            let app = aegis_server::metrics_app(state.clone());
            let config = state.config.clone();
            Some(tokio::spawn(async move {
                aegis_server::serve(listener, app, &config, std::future::pending()).await
            }))
        }
        _ => None,
    };
    tracing::info!(%addr, "aegis listening");
    aegis_server::serve(
        listener,
        aegis_server::app(state.clone()),
        &state.config,
        shutdown_signal(),
    )
    .await?;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    housekeeping.abort();
    if let Some(mut importer) = importer {
        // A running job commits the batch in hand and gives its lease back, so it
        // resumes from its checkpoint at once (after a restart, or elsewhere).
        state.aegis.import_runner().stop();
        let grace = std::time::Duration::from_secs(10);
        if tokio::time::timeout(grace, &mut importer).await.is_err() {
            tracing::warn!(
                "import worker did not stop in time; its job resumes when the lease ends"
            );
            importer.abort();
        }
    }
    tracing::info!("aegis stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let url = config.database_url();
    aegis_store::migrate(&url)
        .await
        .map_err(|e| anyhow::anyhow!("migrating: {e}"))?;
    eprintln!("database is up to date");
    Ok(())
}

fn postgres_backup(url: &str) -> anyhow::Result<()> {
    if url.starts_with("postgres") {
        eprint!("{}", aegis_store::backup::postgres_instructions());
        anyhow::bail!("aegis backs up SQLite itself; use the PostgreSQL tools above");
    }
    Ok(())
}

async fn backup(config: Config, to: PathBuf) -> anyhow::Result<()> {
    let url = config.database_url();
    postgres_backup(&url)?;
    let done = aegis_store::backup::backup_sqlite(&url, &to).await?;
    eprintln!(
        "backed up {} users ({} bytes) to {}",
        done.users,
        done.bytes,
        to.display()
    );
    eprintln!(
        "the backup does not hold the key-encryption key ({}): keep a copy of it with the \
         backup, or TOTP secrets and signing keys cannot be opened after a restore",
        kek_source(&config)
    );
    Ok(())
}

async fn restore(config: Config, from: PathBuf) -> anyhow::Result<()> {
    let url = config.database_url();
    postgres_backup(&url)?;
    let now = SystemClock.now().timestamp();
    let done = aegis_store::backup::restore_sqlite(&url, &from, now).await?;
    eprintln!("restored {} users from {}", done.users, from.display());
    if let Some(previous) = done.previous {
        eprintln!("the replaced database is kept at {}", previous.display());
    }
    Ok(())
}

fn kek_source(config: &Config) -> String {
    if config.kek.is_some() {
        "the `kek` setting".to_owned()
    } else {
        config.data_dir.join("kek").display().to_string()
    }
}

async fn create_user(
    config: Config,
    email: String,
    username: Option<String>,
    role: Role,
) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on stdin");
    let state = aegis_server::bootstrap::state(config, Arc::new(SystemClock)).await?;
    let user = state
        .aegis
        .create_user(
            &Actor::System,
            CreateUserRequest {
                username,
                email: Some(email),
                password: Some(password),
                role,
                profile: Default::default(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", user.id);
    eprintln!(
        "created user {} ({}) with role {}",
        user.username, user.num_id, user.role
    );
    Ok(())
}

async fn create_token(
    config: Config,
    email: String,
    role: Role,
    expiry: i64,
    provider: String,
    name: Option<String>,
) -> anyhow::Result<()> {
    let state = aegis_server::bootstrap::state(config, Arc::new(SystemClock)).await?;
    let user = state
        .aegis
        .find_user(&email)
        .await
        .map_err(|e| anyhow::anyhow!("{email}: {e}"))?;
    let minted = state
        .aegis
        .create_api_token(
            &Actor::System,
            user.id,
            CreateApiTokenRequest {
                provider,
                role,
                expiry_s: expiry,
                name,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", minted.secret);
    Ok(())
}
