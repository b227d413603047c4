//! Settings of the core rules, with the documented defaults.

use serde::{Deserialize, Serialize};

/// Every tunable rule of the core.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
        }
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
