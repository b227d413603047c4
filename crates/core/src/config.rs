//! Settings of the core rules, with the documented defaults.

use serde::{Deserialize, Serialize};

/// Every tunable rule of the core.
///
/// Its keys sit at the top level of `aegis.toml`, beside the server's own, so
/// unknown top-level keys are refused by the loader that knows both.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CoreConfig {
    /// `iss` of issued access tokens (and required on presented ones).
    pub issuer: String,
    /// `aud` of issued access tokens (and required on presented ones).
    pub audience: String,
    /// Access-token lifetime in seconds (at most 3600).
    pub access_ttl_s: u64,
    /// Clock-skew leeway for `exp` in seconds.
    pub leeway_s: u64,
    /// Refresh-token lifetime in seconds.
    pub refresh_ttl_s: u64,
    /// Absolute session lifetime in seconds.
    pub session_max_s: u64,
    /// Rotate refresh tokens on every use (and treat reuse as theft).
    pub refresh_rotation: bool,
    /// Longest API-token lifetime in seconds.
    pub api_token_max_expiry_s: u64,
    /// Anyone may register an account (Argon `register`).
    pub open_registration: bool,
    /// Authentication providers API tokens may belong to.
    pub providers: Vec<String>,
    /// Password hashing.
    pub argon2: Argon2Config,
    /// Failed-login throttling.
    pub throttle: ThrottleConfig,
    /// Bulk import.
    pub import: ImportConfig,
    /// Passkeys (WebAuthn).
    pub passkeys: PasskeyConfig,
    /// The OpenID Connect provider.
    pub oidc: OidcConfig,
    /// How recent a sign-in must be for a session to add, replace or remove
    /// second factors ("sudo mode"), in seconds. Set from the server's
    /// `web.reauth_window_s`, where operators write it.
    #[serde(skip)]
    pub reauth_window_s: u64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            issuer: "aegis".into(),
            audience: "aegis".into(),
            access_ttl_s: 3600,
            leeway_s: 5,
            refresh_ttl_s: 14 * 24 * 3600,
            session_max_s: 30 * 24 * 3600,
            refresh_rotation: true,
            api_token_max_expiry_s: 365 * 24 * 3600,
            open_registration: true,
            providers: vec!["local".into()],
            argon2: Argon2Config::default(),
            throttle: ThrottleConfig::default(),
            import: ImportConfig::default(),
            passkeys: PasskeyConfig::default(),
            oidc: OidcConfig::default(),
            reauth_window_s: 600,
        }
    }
}

/// A setting that cannot work, named by its key (`throttle.lockout_s`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {reason}")]
pub struct ConfigError {
    /// The dotted key, as written in `aegis.toml`.
    pub key: String,
    /// What is wrong with its value.
    pub reason: String,
}

impl ConfigError {
    /// A refusal of `key`'s value.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

fn ensure(ok: bool, key: &str, reason: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(key, reason))
    }
}

impl CoreConfig {
    /// Checks every rule that a value must follow for the core to start, so
    /// that a bad file fails at start (and in `aegis config check`) naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(!self.issuer.is_empty(), "issuer", "must not be empty")?;
        ensure(!self.audience.is_empty(), "audience", "must not be empty")?;
        ensure(
            (1..=3600).contains(&self.access_ttl_s),
            "access_ttl_s",
            "must be between 1 and 3600 seconds",
        )?;
        ensure(
            self.leeway_s <= 300,
            "leeway_s",
            "must be at most 300 seconds",
        )?;
        ensure(self.refresh_ttl_s > 0, "refresh_ttl_s", "must be positive")?;
        ensure(
            self.session_max_s >= self.refresh_ttl_s,
            "session_max_s",
            "must be at least refresh_ttl_s",
        )?;
        ensure(
            self.api_token_max_expiry_s > 0,
            "api_token_max_expiry_s",
            "must be positive",
        )?;
        ensure(
            !self.providers.is_empty() && self.providers.iter().all(|p| !p.is_empty()),
            "providers",
            "must name at least one provider, none empty",
        )?;
        argon2::Params::new(
            self.argon2.memory_kib,
            self.argon2.iterations,
            self.argon2.parallelism,
            None,
        )
        .map_err(|e| ConfigError::new("argon2", format!("is not a valid argon2id setting: {e}")))?;
        ensure(
            self.argon2.memory_kib <= 4 * 1024 * 1024,
            "argon2.memory_kib",
            "must be at most 4194304 (4 GiB)",
        )?;
        ensure(
            self.throttle.lockout_s > 0
                || (self.throttle.account_failures == 0 && self.throttle.ip_failures == 0),
            "throttle.lockout_s",
            "must be positive while throttling is on",
        )?;
        ensure(
            self.import.max_upload_bytes > 0,
            "import.max_upload_bytes",
            "must be positive",
        )?;
        ensure(
            (1..=50_000).contains(&self.import.batch_rows),
            "import.batch_rows",
            "must be between 1 and 50000",
        )?;
        ensure(
            self.import.lease_s > 0,
            "import.lease_s",
            "must be positive",
        )?;
        ensure(
            self.import.poll_ms > 0,
            "import.poll_ms",
            "must be positive",
        )?;
        ensure(
            (1..=60).contains(&self.oidc.code_ttl_s),
            "oidc.code_ttl_s",
            "must be between 1 and 60 seconds",
        )?;
        ensure(
            (1..=3600).contains(&self.oidc.access_ttl_s),
            "oidc.access_ttl_s",
            "must be between 1 and 3600 seconds",
        )?;
        ensure(
            (1..=86_400).contains(&self.oidc.id_token_ttl_s),
            "oidc.id_token_ttl_s",
            "must be between 1 and 86400 seconds",
        )?;
        crate::service::passkeys_relying_party(&self.passkeys)
            .map(|_| ())
            .map_err(|e| match e {
                crate::Error::InvalidField { field, reason } => ConfigError::new(field, reason),
                other => ConfigError::new("passkeys", other.to_string()),
            })
    }
}

/// argon2id parameters and the hashing queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Config {
    /// Memory cost in KiB (default 19 MiB).
    pub memory_kib: u32,
    /// Time cost (iterations).
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Hashes running at once (0 = number of cores).
    pub workers: usize,
    /// Hashes allowed to wait for a worker before the server answers 503.
    pub queue: usize,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            workers: 0,
            queue: 64,
        }
    }
}

/// Failed-login throttling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Consecutive failures of one account before it is locked (0 = off).
    pub account_failures: u32,
    /// Failures from one client address before it is locked (0 = off).
    pub ip_failures: u32,
    /// Lock duration, and the window failures are counted in, in seconds.
    pub lockout_s: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            account_failures: 10,
            ip_failures: 100,
            lockout_s: 15 * 60,
        }
    }
}

/// Passkeys: the relying party browsers bind credentials to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeyConfig {
    /// The relying party id: the site's domain (not an IP address).
    pub rp_id: String,
    /// The origin the pages are served from (`https://id.example.com`); its host
    /// must be `rp_id` or under it.
    pub origin: String,
}

impl Default for PasskeyConfig {
    fn default() -> Self {
        Self {
            rp_id: "localhost".into(),
            origin: "http://localhost:8080".into(),
        }
    }
}

/// The OpenID Connect provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// Serve the provider (needs `public_url`, its issuer).
    pub enabled: bool,
    /// The issuer: the server's `public_url`, set by the server.
    #[serde(skip)]
    pub issuer: String,
    /// Authorization-code lifetime in seconds (at most 60).
    pub code_ttl_s: u64,
    /// Lifetime of access tokens issued to clients, in seconds.
    pub access_ttl_s: u64,
    /// Lifetime of ID tokens, in seconds.
    pub id_token_ttl_s: u64,
    /// How long a started authorization may wait for the sign-in and
    /// consent, in seconds.
    pub request_ttl_s: u64,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: String::new(),
            code_ttl_s: 60,
            access_ttl_s: 600,
            id_token_ttl_s: 3600,
            request_ttl_s: 1800,
        }
    }
}

/// Bulk import: uploads and background jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportConfig {
    /// Largest upload in bytes (default 1 GiB); more is refused with 413.
    pub max_upload_bytes: u64,
    /// How long an uploaded source is kept, in seconds (default 24 h).
    pub source_ttl_s: u64,
    /// Rows written per transaction.
    pub batch_rows: usize,
    /// How long a job's owner may go without committing a batch before another
    /// instance takes the job over, in seconds.
    pub lease_s: u64,
    /// How often an idle instance looks for queued jobs, in milliseconds.
    pub poll_ms: u64,
    /// Run queued jobs in this instance (off: only other instances run them).
    pub run_jobs: bool,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 1 << 30,
            source_ttl_s: 24 * 3600,
            batch_rows: 2000,
            lease_s: 15,
            poll_ms: 1000,
            run_jobs: true,
        }
    }
}
