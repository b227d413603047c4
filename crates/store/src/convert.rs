//! Conversions from stored column values into core types, shared by both backends.

use aegis_core::import::{JobStatus, RowStatus, SourceFormat};
use aegis_core::mfa::FactorKind;
use aegis_core::user::Role;
use aegis_core::{Error, Result};

/// A stored value that cannot be what the schema promises.
pub(crate) fn corrupt(column: &'static str) -> Error {
    tracing::error!(column, "corrupt value in database");
    Error::internal("corrupt value in database")
}

/// A stored SHA-256 hash.
pub(crate) fn hash32(v: Vec<u8>, column: &'static str) -> Result<[u8; 32]> {
    v.try_into().map_err(|_| corrupt(column))
}

/// A stored role name.
pub(crate) fn role(v: &str) -> Result<Role> {
    v.parse().map_err(|_| corrupt("role"))
}

/// A stored failure counter.
pub(crate) fn failures(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// A stored count, size or offset (never negative).
pub(crate) fn unsigned(v: i64, column: &'static str) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt(column))
}

/// A stored chunk count.
pub(crate) fn chunks(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| corrupt("chunks"))
}

/// A stored import source format.
pub(crate) fn source_format(v: &str) -> Result<SourceFormat> {
    SourceFormat::parse(v).ok_or_else(|| corrupt("format"))
}

/// A stored import job status.
pub(crate) fn job_status(v: &str) -> Result<JobStatus> {
    JobStatus::parse(v).ok_or_else(|| corrupt("status"))
}

/// A stored import row status.
pub(crate) fn row_status(v: &str) -> Result<RowStatus> {
    RowStatus::parse(v).ok_or_else(|| corrupt("status"))
}

/// A stored second-factor kind.
pub(crate) fn factor_kind(v: &str) -> Result<FactorKind> {
    FactorKind::parse(v).ok_or_else(|| corrupt("kind"))
}

/// A TOTP step as stored (a signed 64-bit column).
pub(crate) fn step_value(step: u64) -> Result<i64> {
    i64::try_from(step).map_err(|_| Error::invalid("step", "out of range"))
}
