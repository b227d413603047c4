//! Authenticating a bearer credential (a session's access token or an API
//! token) against live state: revocation, deletion and deactivation count at once.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::auth::{epoch, unauthenticated, MAX_BEARER_LEN, TOUCH_EVERY_S};
use super::{Aegis, Credential, Principal};
use crate::api_token;
use crate::error::{AuthFailure, Error, Result};
use crate::secret::hash_token;
use crate::token::{self, AccessClaims, Rejection};

impl Aegis {
    /// Verifies a JWT's signature (once per token, then from the cache).
    pub(super) async fn verified_claims(&self, token: &str) -> Result<Arc<AccessClaims>> {
        if let Some(c) = self.cache.tokens.get(token) {
            return Ok(c);
        }
        let (iss, aud) = (&self.config.issuer, &self.config.audience);
        let claims = match token::verify(&self.keys, token, iss, aud) {
            Err(Rejection::UnknownKey) => {
                self.keys.reload(self.store.as_ref()).await?;
                token::verify(&self.keys, token, iss, aud)?
            }
            other => other?,
        };
        let claims = Arc::new(claims);
        self.cache.tokens.insert(token.into(), Arc::clone(&claims));
        Ok(claims)
    }

    /// Authenticates a bearer credential (session JWT or API token) against live
    /// state: revocation, deletion and deactivation count at once.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal> {
        let bearer = bearer.trim();
        if bearer.is_empty() {
            return Err(unauthenticated(AuthFailure::Missing));
        }
        if bearer.len() > MAX_BEARER_LEN {
            return Err(unauthenticated(AuthFailure::Malformed));
        }
        if bearer.starts_with(api_token::PREFIX) {
            return self.authenticate_api_token(bearer).await;
        }
        let claims = self.verified_claims(bearer).await?;
        let now = self.clock.now();
        if now.timestamp() > claims.exp + self.config.leeway_s as i64 {
            return Err(unauthenticated(AuthFailure::Expired));
        }
        let principal = self.session_principal(&claims, now).await?;
        principal.ok_or(unauthenticated(AuthFailure::Revoked))
    }

    async fn session_principal(
        &self,
        claims: &AccessClaims,
        now: DateTime<Utc>,
    ) -> Result<Option<Principal>> {
        let sid = claims.sid;
        let session = self
            .cache
            .sessions
            .get_or_load(&sid, async {
                Ok(self.store.find_session(sid).await?.map(Arc::new))
            })
            .await?;
        // A relying party's session is not a sign-in to aegis itself (its
        // tokens carry the client's audience and never get this far).
        let Some(session) =
            session.filter(|s| s.is_live(now) && s.user_id == claims.sub && s.client_id.is_none())
        else {
            return Ok(None);
        };
        let Some(user) = self.user_state(session.user_id).await?.filter(|u| u.active) else {
            return Ok(None);
        };
        Ok(Some(Principal {
            user,
            credential: Credential::Session {
                sid,
                expires_at: epoch(claims.exp),
            },
        }))
    }

    async fn authenticate_api_token(&self, bearer: &str) -> Result<Principal> {
        if !api_token::is_well_formed(bearer) {
            return Err(unauthenticated(AuthFailure::Malformed));
        }
        let hash = hash_token(bearer);
        let token = self
            .cache
            .api_tokens
            .get_or_load(&hash, async {
                Ok(self
                    .store
                    .find_api_token_by_hash(&hash)
                    .await?
                    .map(Arc::new))
            })
            .await?
            .ok_or(unauthenticated(AuthFailure::Revoked))?;
        let now = self.clock.now();
        if now > token.expires_at + Duration::seconds(self.config.leeway_s as i64) {
            return Err(unauthenticated(AuthFailure::Expired));
        }
        let user = self
            .user_state(token.owner_id)
            .await?
            .filter(|u| u.active)
            .ok_or(unauthenticated(AuthFailure::Revoked))?;
        let stale = token
            .last_used_at
            .is_none_or(|t| (now - t).num_seconds() >= TOUCH_EVERY_S);
        if stale {
            match self.store.touch_api_token(token.id, now).await {
                // Deleted while this request was under way.
                Err(Error::NotFound(_)) => return Err(unauthenticated(AuthFailure::Revoked)),
                other => other?,
            }
            self.cache.api_tokens.invalidate(&hash);
        }
        Ok(Principal {
            user,
            credential: Credential::ApiToken {
                id: token.id,
                hash,
                role: token.role,
                expires_at: token.expires_at,
            },
        })
    }
}
