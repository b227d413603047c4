//! What a presented token is, described (Pangea `client/token/check`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::auth::{epoch, unauthenticated, MAX_BEARER_LEN};
use super::{Aegis, Credential};
use crate::api_token;
use crate::error::{AuthFailure, Result};
use crate::secret::hash_token;
use crate::user::User;

/// What a presented token is (Pangea `client/token/check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A session access token (JWT).
    Access,
    /// A session refresh token.
    Refresh,
    /// An API token.
    Api,
}

/// A live token, described.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub kind: TokenKind,
    /// Access: the token's `jti`; refresh: the session id; API: the token id.
    pub id: Uuid,
    pub user: Arc<User>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Aegis {
    /// Describes a live token of any kind; dead or unknown tokens are the
    /// `Unauthenticated` errors `authenticate` gives.
    pub async fn inspect_token(&self, token: &str) -> Result<TokenInfo> {
        let token = token.trim();
        if token.starts_with(api_token::PREFIX) {
            let p = self.authenticate(token).await?;
            let Credential::ApiToken { id, .. } = p.credential else {
                return Err(unauthenticated(AuthFailure::Malformed));
            };
            let record = self
                .store
                .find_api_token(id)
                .await?
                .ok_or(unauthenticated(AuthFailure::Revoked))?;
            return Ok(TokenInfo {
                kind: TokenKind::Api,
                id,
                user: p.user,
                created_at: record.created_at,
                expires_at: record.expires_at,
            });
        }
        if token.contains('.') {
            let p = self.authenticate(token).await?;
            let claims = self.verified_claims(token).await?;
            return Ok(TokenInfo {
                kind: TokenKind::Access,
                id: claims.jti,
                user: p.user,
                created_at: epoch(claims.iat),
                expires_at: epoch(claims.exp),
            });
        }
        let now = self.clock.now();
        let invalid = || unauthenticated(AuthFailure::Malformed);
        if token.is_empty() || token.len() > MAX_BEARER_LEN {
            return Err(invalid());
        }
        let record = self
            .store
            .find_refresh_token(&hash_token(token))
            .await?
            .filter(|r| r.used_at.is_none())
            .ok_or_else(invalid)?;
        if record.expires_at <= now {
            return Err(unauthenticated(AuthFailure::Expired));
        }
        let session = self
            .store
            .find_session(record.session_id)
            .await?
            .filter(|s| s.is_live(now) && s.client_id.is_none())
            .ok_or(unauthenticated(AuthFailure::Revoked))?;
        let user = self
            .user_state(session.user_id)
            .await?
            .filter(|u| u.active)
            .ok_or(unauthenticated(AuthFailure::Revoked))?;
        Ok(TokenInfo {
            kind: TokenKind::Refresh,
            id: session.id,
            user,
            created_at: session.created_at,
            expires_at: record.expires_at,
        })
    }
}
