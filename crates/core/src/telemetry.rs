//! The core's metrics, recorded through the `metrics` facade. The server
//! installs a Prometheus recorder; without one (tools, tests) they cost nothing.
//! Every name the core records is here, so the exported set is read in one place.

use crate::error::Error;

/// Logins by method and outcome.
pub const LOGINS: &str = "aegis_logins_total";
/// Accounts and client addresses locked after repeated failures.
pub const LOCKOUTS: &str = "aegis_lockouts_total";
/// Password hashes waiting for a worker.
pub const HASH_QUEUE_DEPTH: &str = "aegis_password_hash_queue_depth";
/// Time a password hash waited for a worker.
pub const HASH_WAIT: &str = "aegis_password_hash_wait_seconds";
/// Time a password hash (or check) ran.
pub const HASH_RUN: &str = "aegis_password_hash_seconds";
/// Password hashes refused because the queue was full (answered 503).
pub const HASH_REJECTED: &str = "aegis_password_hash_rejected_total";
/// Import rows by outcome.
pub const IMPORT_ROWS: &str = "aegis_import_rows_total";
/// Rows per second of the last committed import batch.
pub const IMPORT_RATE: &str = "aegis_import_rows_per_second";

/// OpenID Connect grants by type and outcome.
pub const GRANTS: &str = "aegis_oidc_grants_total";

/// How a login ended, as a metric label.
pub(crate) fn login_outcome<T>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(Error::MfaRequired) => "second_factor",
        Err(Error::Unauthenticated(_)) => "invalid",
        Err(Error::Locked { .. }) => "locked",
        Err(Error::Unavailable { .. }) => "unavailable",
        Err(Error::InvalidField { .. }) => "invalid_request",
        Err(_) => "error",
    }
}

/// Counts one login.
pub(crate) fn login(method: &'static str, outcome: &'static str) {
    metrics::counter!(LOGINS, "method" => method, "outcome" => outcome).increment(1);
}

/// Counts one lock of a throttle key (`acct:…` or `ip:…`).
pub(crate) fn lockout(key: &str) {
    let scope = if key.starts_with("ip:") {
        "ip"
    } else {
        "account"
    };
    metrics::counter!(LOCKOUTS, "scope" => scope).increment(1);
}

/// Counts one OpenID Connect grant (`authorization_code`, `refresh_token`,
/// `client_credentials`) and how it ended (`success`, or the OAuth error code).
pub(crate) fn grant(kind: &'static str, outcome: &'static str) {
    metrics::counter!(GRANTS, "grant_type" => kind, "outcome" => outcome).increment(1);
}
