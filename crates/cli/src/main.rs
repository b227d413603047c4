//! The `aegis` binary: serve, migrate, and operator commands for users, tokens
//! and bulk imports.

mod import;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aegis_core::api_token::CreateApiTokenRequest;
use aegis_core::service::CreateUserRequest;
use aegis_core::{Actor, Role, SystemClock};
use aegis_server::Config;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

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
    /// Run the server.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, env = "AEGIS_LISTEN")]
        listen: Option<SocketAddr>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
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
    },
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

/// Maps `AEGIS_THROTTLE_IP_FAILURES` to `throttle.ip_failures` and so on.
fn env_key(key: &str) -> String {
    // figment hands over the variable's own case (ARGON2_MEMORY_KIB).
    let key = key.to_ascii_lowercase();
    for section in ["throttle", "argon2", "aiohttp", "import", "web", "passkeys"] {
        if let Some(rest) = key.strip_prefix(section).and_then(|r| r.strip_prefix('_')) {
            return format!("{section}.{rest}");
        }
    }
    key
}

fn load_config(global: &Global) -> anyhow::Result<Config> {
    let mut fig = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = &global.config {
        anyhow::ensure!(path.exists(), "config file {} not found", path.display());
        fig = fig.merge(Toml::file(path));
    }
    fig = fig.merge(
        Env::prefixed("AEGIS_")
            .ignore(&["CONFIG", "DATABASE_URL", "LISTEN", "DATA_DIR", "LOG"])
            .map(|k| env_key(k.as_str()).into()),
    );
    let mut config: Config = fig.extract().context("reading the configuration")?;
    if let Some(db) = &global.database {
        config.database = Some(db.clone());
    }
    if let Some(dir) = &global.data_dir {
        config.data_dir = dir.clone();
    }
    Ok(config)
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AEGIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = load_config(&cli.global)?;
    init_logging(&config.log_format);
    match cli.command {
        Command::Serve { listen } => serve(config, listen).await,
        Command::Migrate => migrate(config).await,
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
        Command::Import {
            file,
            format,
            mapping,
            name,
            dry_run,
        } => {
            import::run(
                config,
                import::ImportArgs {
                    file,
                    format,
                    mapping,
                    name,
                    dry_run,
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
    let state = aegis_server::bootstrap::state(config, Arc::new(SystemClock)).await?;
    let housekeeping = aegis_server::bootstrap::spawn_housekeeping(&state);
    let importer = aegis_server::bootstrap::spawn_import_worker(&state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "aegis listening");
    aegis_server::serve(listener, aegis_server::app(state), shutdown_signal()).await?;
    housekeeping.abort();
    if let Some(importer) = importer {
        // A running job stops here; its lease runs out and it resumes at its checkpoint.
        importer.abort();
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

#[cfg(test)]
mod tests {
    use super::env_key;

    #[test]
    fn env_keys_nest_sections() {
        assert_eq!(env_key("throttle_ip_failures"), "throttle.ip_failures");
        assert_eq!(env_key("argon2_memory_kib"), "argon2.memory_kib");
        assert_eq!(env_key("public_url"), "public_url");
        assert_eq!(env_key("ARGON2_MEMORY_KIB"), "argon2.memory_kib");
        assert_eq!(env_key("THROTTLE_IP_FAILURES"), "throttle.ip_failures");
        assert_eq!(env_key("IMPORT_LEASE_S"), "import.lease_s");
    }
}
