//! Server configuration (loaded by the CLI from defaults, a TOML file and
//! `AEGIS_*` environment variables).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use aegis_core::{ConfigError, CoreConfig};
use serde::{Deserialize, Serialize};

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
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Largest JSON body in bytes.
    pub max_body_bytes: usize,
    /// Log format: `text` or `json`.
    pub log_format: LogFormat,
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
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
        }
    }
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
