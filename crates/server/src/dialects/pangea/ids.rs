//! Pangea ids (spec §3.1): `prefix_` + 32 lowercase base32 characters encoding
//! the core UUID and a 4-byte check (first bytes of SHA-256(prefix ‖ UUID)).
//! Stateless and reversible; a well-formed id whose check fails is "not found".

use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const USER: &str = "pui";
pub const GROUP: &str = "pgi";
pub const AUTHENTICATOR: &str = "pau";
pub const TOKEN: &str = "pmt";
pub const IMPORT_SOURCE: &str = "pus";
pub const IMPORT_JOB: &str = "pum";

fn check(prefix: &str, id: &Uuid) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(prefix.as_bytes());
    h.update(id.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The Pangea form of a core id.
pub fn encode(prefix: &str, id: Uuid) -> String {
    let mut bytes = [0u8; 20];
    bytes[..16].copy_from_slice(id.as_bytes());
    bytes[16..].copy_from_slice(&check(prefix, &id));
    format!(
        "{prefix}_{}",
        BASE32_NOPAD.encode(&bytes).to_ascii_lowercase()
    )
}

/// Why an id was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdError {
    /// Not of the form `prefix_[a-z2-7]{32}`: a validation error.
    Pattern,
    /// Well-formed but not one of ours: simply not found.
    Foreign,
}

/// The core id behind a Pangea id of the given prefix.
pub fn decode(prefix: &str, text: &str) -> Result<Uuid, IdError> {
    let body = text
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .filter(|b| {
            b.len() == 32
                && b.bytes()
                    .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c))
        })
        .ok_or(IdError::Pattern)?;
    let bytes = BASE32_NOPAD
        .decode(body.to_ascii_uppercase().as_bytes())
        .map_err(|_| IdError::Pattern)?;
    let id = Uuid::from_slice(&bytes[..16]).map_err(|_| IdError::Pattern)?;
    if bytes[16..] == check(prefix, &id) {
        Ok(id)
    } else {
        Err(IdError::Foreign)
    }
}

/// A fresh request id: `prq_` + 32 random base32 characters.
pub fn request_id() -> String {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("prq_{}", BASE32_NOPAD.encode(&bytes).to_ascii_lowercase())
}

// ---- Schemas of the ids and times, for the OpenAPI document ---------------

/// A user id, `pui_…`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = PangeaUserId, pattern = "^pui_[a-z2-7]{32}$")]
#[allow(dead_code)]
pub struct UserId(String);

/// A group id, `pgi_…`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = PangeaGroupId, pattern = "^pgi_[a-z2-7]{32}$")]
#[allow(dead_code)]
pub struct GroupId(String);

/// A session or token id, `pmt_…`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = PangeaSessionId, pattern = "^pmt_[a-z2-7]{32}$")]
#[allow(dead_code)]
pub struct SessionId(String);

/// An import job id, `pum_…`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = PangeaImportJobId, pattern = "^pum_[a-z2-7]{32}$")]
#[allow(dead_code)]
pub struct ImportJobId(String);

/// An RFC 3339 instant; aegis writes UTC with microseconds and `Z` (spec §3.2).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = PangeaTimestamp, format = DateTime)]
#[allow(dead_code)]
pub struct Timestamp(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checks() {
        let id = Uuid::now_v7();
        let s = encode(USER, id);
        assert!(s.starts_with("pui_") && s.len() == 36);
        assert_eq!(decode(USER, &s), Ok(id));
        assert_eq!(decode(GROUP, &s), Err(IdError::Pattern));
        let g = encode(GROUP, id);
        assert_eq!(decode(GROUP, &g), Ok(id));
        // Another prefix's check does not pass.
        let forged = format!("pui_{}", &g[4..]);
        assert_eq!(decode(USER, &forged), Err(IdError::Foreign));
        assert_eq!(
            decode(USER, "pui_xpkhwpnz2cmegsws737xbsqnmnuwtbm5"),
            Err(IdError::Foreign)
        );
        assert_eq!(decode(USER, "pui_short"), Err(IdError::Pattern));
        assert_eq!(
            decode(USER, "pui_XPKHWPNZ2CMEGSWS737XBSQNMNUWTBM5"),
            Err(IdError::Pattern)
        );
        assert!(request_id().starts_with("prq_"));
        assert_eq!(request_id().len(), 36);
    }
}
