//! Server configuration (loaded by the CLI from defaults, a TOML file and
//! `AEGIS_*` environment variables).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use aegis_core::CoreConfig;
use serde::{Deserialize, Serialize};

/// Everything `aegis serve` can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory (SQLite database, key-encryption-key file).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: SQLite in the data directory.
    pub database: Option<String>,
    /// Public base URL (used in problem `instance` fields); default: from `Host`.
    pub public_url: Option<String>,
    /// Key-encryption key (base64 of 32 bytes); default: a 0600 file in the data dir.
    pub kek: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Largest JSON body in bytes.
    pub max_body_bytes: usize,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// The aiohttp dialect.
    pub aiohttp: AiohttpConfig,
    /// The hosted login and account pages.
    pub web: WebConfig,
    /// The identity core's rules.
    #[serde(flatten)]
    pub core: CoreConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database: None,
            public_url: None,
            kek: None,
            trusted_proxies: Vec::new(),
            max_body_bytes: 1024 * 1024,
            log_format: "text".into(),
            aiohttp: AiohttpConfig::default(),
            web: WebConfig::default(),
            core: CoreConfig::default(),
        }
    }
}

impl Config {
    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("aegis.db").display()))
    }
}

/// Settings of the aiohttp dialect.
/// The hosted pages (`/login`, `/account`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Where the hosted login may send a browser back with a login code: exact
    /// URLs (scheme, host, port, path; no query), compared byte for byte.
    pub redirect_uris: Vec<String>,
    /// Mark cookies `Secure` (browsers then send them over HTTPS only). Turn
    /// off only for plain-HTTP use on a local machine.
    pub secure_cookies: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            redirect_uris: Vec::new(),
            secure_cookies: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AiohttpConfig {
    /// Render the problem `status` as a string (as the seed does) instead of a number.
    pub problem_status_as_string: bool,
}

impl Default for AiohttpConfig {
    fn default() -> Self {
        Self {
            problem_status_as_string: true,
        }
    }
}
