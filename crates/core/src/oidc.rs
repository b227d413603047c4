//! The OpenID Connect provider's records: registered clients (relying
//! parties), the consents users gave them, and authorization codes. The rules
//! that use them live in `service::oidc`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::keys::SigningAlg;

/// An OAuth 2.0 grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grant {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl Grant {
    /// Every grant, in the order discovery lists them.
    pub const ALL: [Grant; 3] = [
        Grant::AuthorizationCode,
        Grant::RefreshToken,
        Grant::ClientCredentials,
    ];

    /// The `grant_type` text (RFC 6749).
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::RefreshToken => "refresh_token",
            Grant::ClientCredentials => "client_credentials",
        }
    }

    /// From its `grant_type` text.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == text)
    }
}

/// A registered relying party.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    /// The `client_id` (public; 24 random base32 characters after `aegis-`).
    pub id: String,
    pub name: String,
    /// SHA-256 of the client secret (256 random bits, so a fast hash is enough);
    /// `None` for public clients.
    pub secret_hash: Option<[u8; 32]>,
    /// Exact redirect URIs (loopback ones match on any port).
    pub redirect_uris: Vec<String>,
    /// Exact `post_logout_redirect_uri`s.
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (a native or browser app) has no secret and must use PKCE.
    pub public: bool,
    /// First-party clients are not asked for consent.
    pub first_party: bool,
    /// The grants the client may use.
    pub grants: Vec<Grant>,
    /// How its ID tokens are signed.
    pub id_token_alg: SigningAlg,
    /// The client's public keys as a JWK set (JSON), for `private_key_jwt`.
    pub jwks: Option<String>,
    /// The scopes `client_credentials` may grant it.
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Scopes a user allowed a client, remembered so that the next sign-in does not ask.
#[derive(Debug, Clone, PartialEq)]
pub struct Consent {
    pub user_id: Uuid,
    pub client_id: String,
    /// Granted scopes, sorted, without duplicates.
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

/// An authorization code, stored only as the SHA-256 of its text. It is bound
/// to the client, the redirect URI, the PKCE challenge and the nonce of its
/// request, and to the session the sign-in opened for the client.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthCode {
    pub hash: [u8; 32],
    pub client_id: String,
    pub user_id: Uuid,
    /// The client's session (`sessions.client_id` = `client_id`) whose tokens
    /// the exchange issues; revoked when the code is used twice.
    pub session_id: Uuid,
    pub redirect_uri: String,
    /// Granted scopes, space-separated order kept.
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    /// The S256 PKCE challenge (base64url of SHA-256 of the verifier).
    pub code_challenge: Option<String>,
    /// When the user authenticated (the ID token's `auth_time`).
    pub auth_time: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// What presenting a code found.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeUse {
    /// The first use: the code is now spent.
    First(AuthCode),
    /// The code was already spent (by an earlier exchange): a replay.
    Again(AuthCode),
}
