//! Server configuration (loaded by the CLI from defaults, a TOML file and
//! `AEGIS_*` environment variables).

use std::net::SocketAddr;
use std::path::PathBuf;

use aegis_core::{ConfigError, CoreConfig};
use serde::{Deserialize, Serialize};

use crate::net::Network;

/// Everything `aegis serve` can be told. The core's keys ([`CoreConfig`]) sit
/// at the same top level of `aegis.toml`; the loader reads both from one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory (SQLite database, key-encryption-key file).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: SQLite in the data directory.
    pub database: Option<String>,
    /// How long a request waits for the database (a connection, connecting
    /// included, or SQLite's write lock) before it fails as unavailable (503
    /// with `Retry-After`), in milliseconds.
    pub database_timeout_ms: u64,
    /// Public base URL (used in problem `instance` fields); default: from `Host`.
    pub public_url: Option<String>,
    /// Key-encryption key (base64 of 32 bytes); default: a 0600 file in the data dir.
    pub kek: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed: addresses or CIDR ranges.
    pub trusted_proxies: Vec<Network>,
    /// Largest JSON body in bytes.
    pub max_body_bytes: usize,
    /// Log format: `text` or `json`.
    pub log_format: LogFormat,
    /// Connection limits and timeouts.
    pub http: HttpConfig,
    /// Cross-origin calls to the JSON APIs.
    pub cors: CorsConfig,
    /// Prometheus metrics.
    pub metrics: MetricsConfig,
    /// The aiohttp dialect.
    pub aiohttp: AiohttpConfig,
    /// The Argon dialect.
    pub argon: ArgonConfig,
    /// The hosted login and account pages.
    pub web: WebConfig,
    /// The identity core's rules (same level in the file; read separately).
    #[serde(skip)]
    pub core: CoreConfig,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Prometheus metrics (`GET /metrics`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Record and serve metrics.
    pub enabled: bool,
    /// Serve `/metrics` on this address only (else on the main listener).
    pub listen: Option<SocketAddr>,
    /// On the main listener, serve `/metrics` to every peer (else only to
    /// peers in `allowed_networks`).
    pub public: bool,
    /// On the main listener, the socket peers `/metrics` answers (others get
    /// the 404 of an unknown path).
    pub allowed_networks: Vec<Network>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
            public: false,
            allowed_networks: Network::loopback(),
        }
    }
}

/// How many connections are taken and how long one may sit idle or dawdle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Seconds a client has to send a request's headers, from the opening of
    /// the connection or the first byte of a later request.
    pub header_read_timeout_s: u64,
    /// Seconds the body of an ordinary request has to arrive whole; an import
    /// upload instead may not stall for longer than this between two reads.
    pub body_read_timeout_s: u64,
    /// Seconds a keep-alive connection may wait for its next request.
    pub idle_timeout_s: u64,
    /// Open connections at most (past it, new ones get a 503 and are closed);
    /// lowered at start to what the open-files limit leaves room for.
    pub max_connections: usize,
    /// Open connections at most from one client address (trusted proxies
    /// excepted: they carry many clients).
    pub max_connections_per_ip: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_s: 10,
            body_read_timeout_s: 30,
            idle_timeout_s: 60,
            max_connections: 10_000,
            max_connections_per_ip: 256,
        }
    }
}

/// Cross-origin (CORS) calls to the four JSON APIs, for a panel served from
/// its own origin. Off while no origin is listed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins (`https://panel.example.com`, scheme, host and port only) whose
    /// pages may call the APIs; compared exactly.
    pub allowed_origins: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database: None,
            database_timeout_ms: 2000,
            public_url: None,
            kek: None,
            trusted_proxies: Vec::new(),
            max_body_bytes: 1024 * 1024,
            log_format: LogFormat::Text,
            http: HttpConfig::default(),
            cors: CorsConfig::default(),
            metrics: MetricsConfig::default(),
            aiohttp: AiohttpConfig::default(),
            argon: ArgonConfig::default(),
            web: WebConfig::default(),
            core: CoreConfig::default(),
        }
    }
}

impl Config {
    /// Checks every value that cannot work, naming its key: the server's own
    /// settings, then the core's.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(db) = &self.database {
            let ok = ["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|p| db.starts_with(p));
            if !ok {
                return Err(ConfigError::new(
                    "database",
                    "must be a sqlite://… or postgres://… URL",
                ));
            }
        }
        if !(1..=600_000).contains(&self.database_timeout_ms) {
            return Err(ConfigError::new(
                "database_timeout_ms",
                "must be between 1 and 600000 milliseconds",
            ));
        }
        if let Some(kek) = &self.kek {
            aegis_core::keys::Kek::from_base64(kek)
                .map_err(|_| ConfigError::new("kek", "must be the base64 of 32 random bytes"))?;
        }
        if let Some(url) = &self.public_url {
            if !is_http_url(url) {
                return Err(ConfigError::new(
                    "public_url",
                    "must be an absolute http:// or https:// URL",
                ));
            }
        }
        if self.core.oidc.enabled && self.public_url.is_none() {
            return Err(ConfigError::new(
                "public_url",
                "must be set when oidc.enabled is on: it is the OpenID issuer",
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "max_body_bytes",
                "must be at least 1024 bytes",
            ));
        }
        for uri in &self.web.redirect_uris {
            if !is_http_url(uri) || uri.contains(['?', '#']) {
                return Err(ConfigError::new(
                    "web.redirect_uris",
                    format!("{uri:?} must be an absolute http(s) URL without query or fragment"),
                ));
            }
        }
        self.validate_http()?;
        for origin in &self.cors.allowed_origins {
            if !is_origin(origin) {
                return Err(ConfigError::new(
                    "cors.allowed_origins",
                    format!(
                        "{origin:?} must be an origin: http(s)://host[:port], no path, no wildcard"
                    ),
                ));
            }
        }
        if let Some(addr) = self.metrics.listen {
            if addr == self.listen {
                return Err(ConfigError::new(
                    "metrics.listen",
                    "must differ from listen (leave it unset to serve /metrics there)",
                ));
            }
        }
        self.core.validate()
    }

    fn validate_http(&self) -> Result<(), ConfigError> {
        let h = &self.http;
        for (key, value) in [
            ("http.header_read_timeout_s", h.header_read_timeout_s),
            ("http.body_read_timeout_s", h.body_read_timeout_s),
            ("http.idle_timeout_s", h.idle_timeout_s),
        ] {
            if !(1..=3600).contains(&value) {
                return Err(ConfigError::new(key, "must be 1 to 3600 seconds"));
            }
        }
        if h.max_connections == 0 {
            return Err(ConfigError::new(
                "http.max_connections",
                "must be at least 1",
            ));
        }
        if h.max_connections_per_ip == 0 {
            return Err(ConfigError::new(
                "http.max_connections_per_ip",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The effective configuration as one JSON object, in the file's layout,
    /// with secrets masked (the key-encryption key, a database password).
    pub fn masked(&self) -> serde_json::Value {
        let mut all = serde_json::Map::new();
        for part in [serde_json::to_value(self), serde_json::to_value(&self.core)] {
            if let Ok(serde_json::Value::Object(map)) = part {
                all.extend(map);
            }
        }
        if self.kek.is_some() {
            all.insert("kek".into(), MASK.into());
        }
        if let Some(db) = &self.database {
            all.insert("database".into(), mask_url_password(db).into());
        }
        serde_json::Value::Object(all)
    }

    /// The top-level keys of `aegis.toml` (the server's and the core's).
    pub fn known_keys() -> Vec<String> {
        let mut keys = Vec::new();
        let defaults = Self::default();
        for part in [
            serde_json::to_value(&defaults),
            serde_json::to_value(&defaults.core),
        ] {
            if let Ok(serde_json::Value::Object(map)) = part {
                keys.extend(map.keys().cloned());
            }
        }
        keys
    }

    /// How the store treats a database that does not answer.
    pub fn store_options(&self) -> aegis_store::StoreOptions {
        aegis_store::StoreOptions {
            timeout: std::time::Duration::from_millis(self.database_timeout_ms),
        }
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("aegis.db").display()))
    }
}

/// What a masked secret prints as.
pub const MASK: &str = "********";

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

/// `https://panel.example.com[:port]`: a scheme, a host, maybe a port; nothing
/// else (a browser's `Origin` has no path and no trailing slash).
fn is_origin(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        && axum::http::HeaderValue::from_str(s).is_ok()
}

/// `postgres://user:secret@host/db` → `postgres://user:********@host/db`.
fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let tail = mask_query_password(tail);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Masks a `password=` query parameter (libpq accepts one).
fn mask_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={MASK}"),
            _ => kv.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

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
    /// How recent a sign-in must be (seconds) for a session to add, replace or
    /// remove second factors and passkeys; older sessions sign in again. A
    /// session replacing another (a profile change's fresh token) keeps its
    /// original's sign-in time.
    pub reauth_window_s: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            redirect_uris: Vec::new(),
            secure_cookies: true,
            reauth_window_s: 600,
        }
    }
}

/// Settings of the Argon dialect.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArgonConfig {
    /// The spec's name (`argon.open_registration`) for the core's
    /// `open_registration`; when set, it wins.
    pub open_registration: Option<bool>,
}

/// Settings of the aiohttp dialect.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AiohttpConfig {
    /// Render the problem `status` as a string (as the seed does) instead of a number.
    pub problem_status_as_string: bool,
    /// Rotate refresh tokens on `POST /auth/refresh` (spec §6.1: off for clients
    /// written for the library, which reuse their first refresh token); unset,
    /// the core's `refresh_rotation`.
    pub refresh_rotation: Option<bool>,
}

impl Default for AiohttpConfig {
    fn default() -> Self {
        Self {
            problem_status_as_string: true,
            refresh_rotation: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_masked() {
        assert_eq!(
            mask_url_password("postgres://app:s3cret@db:5432/aegis?sslmode=require"),
            "postgres://app:********@db:5432/aegis?sslmode=require"
        );
        assert_eq!(
            mask_url_password("postgres://db/aegis?user=app&password=s3cret"),
            "postgres://db/aegis?user=app&password=********"
        );
        assert_eq!(
            mask_url_password("postgres://app@db/aegis"),
            "postgres://app@db/aegis"
        );
        assert_eq!(
            mask_url_password("sqlite:///var/lib/aegis/aegis.db"),
            "sqlite:///var/lib/aegis/aegis.db"
        );
        // A password holding '@' (unescaped) is masked whole.
        assert_eq!(
            mask_url_password("postgres://app:p@ss@db/aegis"),
            "postgres://app:********@db/aegis"
        );
    }

    #[test]
    fn masked_config_shows_no_secret() {
        let config = Config {
            kek: Some("a2V5LWVuY3J5cHRpb24ta2V5LXRoYXQtaXMtc2VjcmV0".into()),
            database: Some("postgres://app:hunter2-db@db/aegis".into()),
            ..Config::default()
        };
        let text = config.masked().to_string();
        assert!(!text.contains("a2V5LWVuY3J5cHRpb24"));
        assert!(!text.contains("hunter2-db"));
        assert!(
            text.contains("\"throttle\""),
            "core keys are shown too: {text}"
        );
    }

    #[test]
    fn validation_names_the_key() {
        let mut config = Config::default();
        config.core.access_ttl_s = 7200;
        assert_eq!(config.validate().unwrap_err().key, "access_ttl_s");
        let mut config = Config::default();
        config.web.redirect_uris = vec!["https://app.example/cb?x=1".into()];
        assert_eq!(config.validate().unwrap_err().key, "web.redirect_uris");
        let mut config = Config::default();
        config.core.passkeys.origin = "not a url".into();
        assert_eq!(config.validate().unwrap_err().key, "passkeys.origin");
        let config = Config {
            database_timeout_ms: 0,
            ..Config::default()
        };
        assert_eq!(config.validate().unwrap_err().key, "database_timeout_ms");
        let mut config = Config::default();
        config.cors.allowed_origins = vec!["https://panel.example.com/".into()];
        assert_eq!(config.validate().unwrap_err().key, "cors.allowed_origins");
        config.cors.allowed_origins = vec!["*".into()];
        assert_eq!(config.validate().unwrap_err().key, "cors.allowed_origins");
        config.cors.allowed_origins = vec!["https://panel.example.com:8443".into()];
        assert!(config.validate().is_ok());
        let mut config = Config::default();
        config.http.max_connections_per_ip = 0;
        assert_eq!(
            config.validate().unwrap_err().key,
            "http.max_connections_per_ip"
        );
        let mut config = Config::default();
        config.http.header_read_timeout_s = 0;
        assert_eq!(
            config.validate().unwrap_err().key,
            "http.header_read_timeout_s"
        );
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn database_timeout_defaults_to_two_seconds() {
        let config = Config::default();
        assert_eq!(
            config.store_options().timeout,
            std::time::Duration::from_secs(2)
        );
        let config = Config {
            database_timeout_ms: 350,
            ..Config::default()
        };
        assert_eq!(
            config.store_options().timeout,
            std::time::Duration::from_millis(350)
        );
    }

    #[test]
    fn known_keys_cover_both_parts() {
        let keys = Config::known_keys();
        for k in [
            "listen", "kek", "database", "metrics", "throttle", "import", "issuer",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
        }
        assert!(!keys.iter().any(|x| x == "core"));
    }
}
