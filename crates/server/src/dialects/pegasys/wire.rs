//! Pegasys wire shapes (spec §4) and their hand-checked parsing: types are
//! checked exactly (an `expiry` of `"60"`, `60.5` or `true` is a 400), unknown
//! fields are ignored.

use aegis_core::api_token::ApiTokenListing;
use aegis_core::{Role, User};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use ulid::Ulid;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Fail;

/// RFC 3339, UTC, second precision, `Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `tok_` + the ULID spelling of the token's UUIDv7 (same 128 bits).
pub fn token_id(id: Uuid) -> String {
    format!("tok_{}", Ulid::from(id.as_u128()))
}

/// The UUID behind a `tok_…` id.
pub fn parse_token_id(s: &str) -> Option<Uuid> {
    let ulid = Ulid::from_string(s.strip_prefix("tok_")?).ok()?;
    Some(Uuid::from_u128(ulid.0))
}

/// Percent-encodes a path segment (unreserved characters and `@` stay).
pub fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn role_of(v: &Value) -> Result<Role, Fail> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Fail::bad_request("role must be one of admin, view, user"))
}

/// A role, as this dialect writes and reads it.
#[derive(Serialize, ToSchema)]
#[schema(as = PegasysRole)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum RoleName {
    Admin,
    View,
    User,
}

/// `POST /api/tokens/{provider}` body (unknown fields are ignored).
#[derive(Debug, ToSchema)]
#[schema(as = PegasysTokenRequest)]
pub struct TokenRequest {
    /// `admin` only for admins; `view` callers may mint nothing.
    #[schema(value_type = RoleName)]
    pub role: Role,
    /// Lifetime in seconds: an integer (not a string, bool or fraction).
    #[schema(minimum = 1, maximum = 31_536_000)]
    pub expiry: i64,
    /// Display name (≤ 64 characters).
    #[schema(max_length = 64)]
    pub name: Option<String>,
}

impl TokenRequest {
    pub fn parse(body: Map<String, Value>) -> Result<Self, Fail> {
        let role = role_of(body.get("role").unwrap_or(&Value::Null))?;
        let expiry = match body.get("expiry") {
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n
                .as_i64()
                .ok_or_else(|| Fail::bad_request("expiry is out of range"))?,
            Some(_) => {
                return Err(Fail::bad_request(
                    "expiry must be an integer number of seconds",
                ))
            }
            None => return Err(Fail::bad_request("expiry is required")),
        };
        let name = match body.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Fail::bad_request("name must be a string")),
        };
        Ok(Self { role, expiry, name })
    }
}

/// `PUT /api/users/{email}` body: `role` and/or `isActive` (at least one;
/// unknown fields are ignored).
#[derive(Debug, ToSchema)]
#[schema(as = PegasysUserUpdateRequest)]
pub struct UserUpdateRequest {
    #[schema(value_type = RoleName, nullable = false)]
    pub role: Option<Role>,
    /// `false` revokes every session of the user and suspends their API tokens.
    #[schema(rename = "isActive", nullable = false)]
    pub is_active: Option<bool>,
}

impl UserUpdateRequest {
    pub fn parse(body: Map<String, Value>) -> Result<Self, Fail> {
        let role = body.get("role").map(role_of).transpose()?;
        let is_active = match body.get("isActive") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(Fail::bad_request("isActive must be a boolean")),
        };
        if role.is_none() && is_active.is_none() {
            return Err(Fail::bad_request("role or isActive is required"));
        }
        Ok(Self { role, is_active })
    }
}

/// The caller's identity.
#[derive(Serialize, ToSchema)]
#[schema(as = PegasysMe)]
#[serde(deny_unknown_fields)]
pub struct MeResponse {
    /// The email (the username of an account without one).
    pub email: String,
    #[schema(value_type = RoleName)]
    pub role: &'static str,
    #[serde(rename = "isActive")]
    pub is_active: bool,
}

/// Done.
#[derive(Serialize, ToSchema)]
#[schema(as = PegasysPass)]
#[serde(deny_unknown_fields)]
pub struct PassResponse {
    #[schema(value_type = PassStatus)]
    pub status: &'static str,
}

/// Done, naming the user.
#[derive(Serialize, ToSchema)]
#[schema(as = PegasysUserPass)]
#[serde(deny_unknown_fields)]
pub struct UserPassResponse {
    #[schema(value_type = PassStatus)]
    pub status: &'static str,
    /// The stored identifier (email, else username).
    pub email: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PegasysPassStatus)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum PassStatus {
    Pass,
}

impl Default for PassResponse {
    fn default() -> Self {
        Self { status: "pass" }
    }
}

/// A minted API token.
#[derive(Serialize, ToSchema)]
#[schema(as = PegasysMintedToken)]
#[serde(deny_unknown_fields)]
pub struct MintResponse {
    /// `tok_…`, for `DELETE /api/tokens/{token_id}`.
    pub id: String,
    /// The secret, shown only here.
    pub token: String,
    /// RFC 3339, UTC, seconds.
    #[schema(format = DateTime)]
    pub expiry: String,
}

/// A listed API token (never its secret).
#[derive(Serialize, ToSchema)]
#[schema(as = PegasysTokenItem)]
#[serde(deny_unknown_fields)]
pub struct TokenItem {
    /// `tok_…`
    pub id: String,
    pub name: Option<String>,
    #[schema(value_type = RoleName)]
    pub role: &'static str,
    pub provider: String,
    /// Who minted it (email, else username).
    #[serde(rename = "createdBy")]
    pub created_by: String,
    #[serde(rename = "createdAt")]
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expiry: String,
    #[serde(rename = "lastUsedAt")]
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
}

impl From<ApiTokenListing> for TokenItem {
    fn from(l: ApiTokenListing) -> Self {
        let t = l.token;
        Self {
            id: token_id(t.id),
            name: t.name,
            role: t.role.as_str(),
            provider: t.provider,
            created_by: l.created_by_key,
            created_at: rfc3339(t.created_at),
            expiry: rfc3339(t.expires_at),
            last_used_at: t.last_used_at.map(rfc3339),
        }
    }
}

/// A listed user.
#[derive(Serialize, ToSchema)]
#[schema(as = PegasysUserItem)]
#[serde(deny_unknown_fields)]
pub struct UserItem {
    /// The email (the username of an account without one).
    pub email: String,
    /// The profile's `name`.
    pub name: Option<String>,
    /// How the account logs in: `local`.
    pub provider: &'static str,
    #[schema(value_type = RoleName)]
    pub role: &'static str,
    #[serde(rename = "isActive")]
    pub is_active: bool,
}

impl From<&User> for UserItem {
    fn from(u: &User) -> Self {
        Self {
            email: u.login_key().to_owned(),
            name: u.profile.get("name").cloned(),
            provider: "local",
            role: u.role.as_str(),
            is_active: u.active,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn token_ids_round_trip() {
        let id = Uuid::now_v7();
        let s = token_id(id);
        assert!(s.starts_with("tok_01"));
        assert_eq!(parse_token_id(&s), Some(id));
        assert_eq!(parse_token_id("tok_nope"), None);
        assert_eq!(parse_token_id("01J"), None);
    }

    #[test]
    fn token_request_types_are_strict() {
        assert!(TokenRequest::parse(obj(json!({"role": "view", "expiry": 60}))).is_ok());
        for bad in [
            json!({"role": "view", "expiry": "60"}),
            json!({"role": "view", "expiry": 60.5}),
            json!({"role": "view", "expiry": true}),
            json!({"role": "root", "expiry": 60}),
            json!({"expiry": 60}),
            json!({"role": "view"}),
            json!({"role": "view", "expiry": 60, "name": 5}),
            json!({"role": "view", "expiry": 18446744073709551615u64}),
        ] {
            assert!(TokenRequest::parse(obj(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_update_needs_one_field() {
        assert!(UserUpdateRequest::parse(obj(json!({"role": "admin"}))).is_ok());
        assert!(UserUpdateRequest::parse(obj(json!({"isActive": false}))).is_ok());
        assert!(UserUpdateRequest::parse(obj(json!({}))).is_err());
        assert!(UserUpdateRequest::parse(obj(json!({"isActive": "false"}))).is_err());
    }

    #[test]
    fn link_segments() {
        assert_eq!(path_segment("a+b@x.io"), "a%2Bb@x.io");
    }
}
