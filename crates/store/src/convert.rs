//! Conversions from stored column values into core types, shared by both backends.

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
