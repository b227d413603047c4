//! Builders for the records the cases store, at fixed microsecond-precision times.

use std::collections::BTreeMap;

use aegis_core::api_token::ApiToken;
use aegis_core::identity::{Email, Username};
use aegis_core::session::{RefreshToken, Session};
use aegis_core::user::{NewUser, Role};
use aegis_core::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// A fixed instant plus `secs` seconds (stores keep microseconds).
pub fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 123_456_000).unwrap() + Duration::seconds(secs)
}

/// A new active user with a password hash and a profile.
pub fn new_user(username: &str, email: Option<&str>) -> NewUser {
    NewUser {
        id: Uuid::now_v7(),
        username: Username::parse(username).unwrap(),
        // The store does not validate; cases use already-normalised values.
        email: email.map(|e| Email::from_stored(e.to_owned())),
        password_hash: Some(format!("$argon2id$hash-of-{username}")),
        profile: BTreeMap::from([("name".to_owned(), format!("{username} name"))]),
        role: Role::User,
        active: true,
        verified: false,
        password_expired: false,
        phone: None,
        created_at: t(0),
    }
}

/// A random 32-byte hash.
pub fn hash() -> [u8; 32] {
    let mut h = [0u8; 32];
    h[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    h[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    h
}

/// A session of a user with its first refresh token.
pub fn session(user_id: Uuid) -> (Session, RefreshToken) {
    let session = Session {
        id: Uuid::now_v7(),
        user_id,
        created_at: t(0),
        expires_at: t(3600),
        revoked_at: None,
        second_factor: false,
        client_id: None,
        scopes: Vec::new(),
        parent_id: None,
    };
    let refresh = refresh_token(session.id);
    (session, refresh)
}

/// An unused refresh token of a session.
pub fn refresh_token(session_id: Uuid) -> RefreshToken {
    RefreshToken {
        hash: hash(),
        session_id,
        created_at: t(0),
        expires_at: t(600),
        used_at: None,
    }
}

/// An API token owned by `owner_id`, created at `t(created)`.
pub fn api_token(owner_id: Uuid, provider: &str, created: i64) -> ApiToken {
    ApiToken {
        id: Uuid::now_v7(),
        hash: hash(),
        owner_id,
        created_by: Some(owner_id),
        provider: provider.to_owned(),
        role: Role::View,
        name: Some(format!("token at {created}")),
        created_at: t(created),
        expires_at: t(created + 86_400),
        last_used_at: None,
    }
}

/// The field of a `Conflict`, failing on anything else.
pub fn conflict<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
    match r {
        Err(Error::Conflict { field }) => field,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// The subject of a `NotFound`, failing on anything else.
pub fn not_found<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
    match r {
        Err(Error::NotFound(what)) => what,
        other => panic!("expected not found, got {other:?}"),
    }
}
