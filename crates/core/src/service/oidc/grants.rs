//! The token endpoint (RFC 6749 §3.2, OpenID Connect Core §3.1.3):
//! `authorization_code` (single use, bound to client, redirect URI, PKCE
//! challenge and nonce), `refresh_token` (the session's family: rotation,
//! reuse ends the session) and `client_credentials`.

use super::authorize::CODE_PREFIX;
use super::client_auth::ClientCredentials;
use super::request::granted_scopes;
use crate::error::Error;
use crate::oidc::{Client, CodeUse, Grant};
use crate::secret::{ct_eq, hash_token, sha256};
use crate::service::Aegis;
use crate::session::Session;
use crate::telemetry;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Longest code, refresh token or verifier looked at.
const MAX_TOKEN: usize = 4096;

/// An OAuth error answer (RFC 6749 §5.2), or a failure of aegis itself.
#[derive(Debug)]
pub enum OAuthError {
    /// `error` and `error_description`; `invalid_client` is answered 401.
    Protocol {
        code: &'static str,
        description: String,
    },
    /// The store, the hasher or something else of aegis failed.
    Core(Error),
}

impl OAuthError {
    pub(super) fn new(code: &'static str, description: impl Into<String>) -> Self {
        OAuthError::Protocol {
            code,
            description: description.into(),
        }
    }
    pub(super) fn invalid_request(why: impl Into<String>) -> Self {
        Self::new("invalid_request", why)
    }
    pub(super) fn invalid_client(why: impl Into<String>) -> Self {
        Self::new("invalid_client", why)
    }
    pub(super) fn invalid_grant(why: impl Into<String>) -> Self {
        Self::new("invalid_grant", why)
    }

    /// The `error` code, or `server_error` / `temporarily_unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::Protocol { code, .. } => code,
            OAuthError::Core(Error::Unavailable { .. }) => "temporarily_unavailable",
            OAuthError::Core(_) => "server_error",
        }
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        OAuthError::Core(e)
    }
}

/// A token request's parameters (besides the client's credentials).
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

/// A successful token answer (RFC 6749 §5.1).
#[derive(Debug, Clone)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    /// The granted scopes, space-separated.
    pub scope: String,
}

type Answer = std::result::Result<TokenResponse, OAuthError>;

impl Aegis {
    /// `POST /token`: authenticates the client, then runs its grant.
    /// `endpoint` is the token endpoint's URL (an assertion's audience).
    pub async fn token(
        &self,
        creds: &ClientCredentials,
        req: TokenRequest,
        endpoint: &str,
    ) -> Answer {
        let kind =
            match req.grant_type.as_deref().map(Grant::parse) {
                Some(Some(g)) => g,
                Some(None) => return Err(OAuthError::new(
                    "unsupported_grant_type",
                    "grant_type must be authorization_code, refresh_token or client_credentials",
                )),
                None => return Err(OAuthError::invalid_request("grant_type is missing")),
            };
        let result = self.grant(kind, creds, req, endpoint).await;
        let outcome = match &result {
            Ok(_) => "success",
            Err(e) => e.code(),
        };
        telemetry::grant(kind.as_str(), outcome);
        result
    }

    async fn grant(
        &self,
        kind: Grant,
        creds: &ClientCredentials,
        req: TokenRequest,
        endpoint: &str,
    ) -> Answer {
        let public_ok = kind != Grant::ClientCredentials;
        let client = self.authenticate_client(creds, endpoint, public_ok).await?;
        if !client.grants.contains(&kind) {
            return Err(OAuthError::new(
                "unauthorized_client",
                format!("this client may not use the {} grant", kind.as_str()),
            ));
        }
        match kind {
            Grant::AuthorizationCode => self.code_grant(&client, req).await,
            Grant::RefreshToken => self.refresh_grant(&client, req).await,
            Grant::ClientCredentials => self.client_grant(&client, req),
        }
    }

    /// The code, spent once: a second presentation ends the session the first
    /// one's tokens belong to.
    async fn code_grant(&self, client: &Client, req: TokenRequest) -> Answer {
        let bad = || OAuthError::invalid_grant("the code is invalid, expired or already used");
        let code = req.code.as_deref().unwrap_or_default();
        if !code.starts_with(CODE_PREFIX) || code.len() > MAX_TOKEN {
            return Err(bad());
        }
        let now = self.clock.now();
        let record = match self.store.use_auth_code(&hash_token(code), now).await? {
            None => return Err(bad()),
            Some(CodeUse::Again(record)) => {
                tracing::warn!(client = %record.client_id, "authorization code replayed: ending its session");
                self.revoke_session(record.session_id).await?;
                return Err(bad());
            }
            Some(CodeUse::First(record)) => record,
        };
        // The code is spent now: whatever fails below, its session is of no use.
        let checks = (|| {
            if record.client_id != client.id || record.expires_at <= now {
                return Err(bad());
            }
            if req.redirect_uri.as_deref() != Some(record.redirect_uri.as_str()) {
                return Err(OAuthError::invalid_grant(
                    "redirect_uri differs from the authorization request's",
                ));
            }
            check_verifier(
                record.code_challenge.as_deref(),
                req.code_verifier.as_deref(),
            )
        })();
        if let Err(e) = checks {
            self.revoke_session(record.session_id).await?;
            return Err(e);
        }
        let session = self.client_session(client, record.session_id).await?;
        self.issue_for_session(
            client,
            &session,
            &record.scopes,
            record.nonce.as_deref(),
            true,
        )
        .await
    }

    /// The session's refresh family: rotated on every use; a used token
    /// presented again ends the session.
    async fn refresh_grant(&self, client: &Client, req: TokenRequest) -> Answer {
        let bad = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
        let token = req.refresh_token.as_deref().unwrap_or_default();
        if token.is_empty() || token.len() > MAX_TOKEN {
            return Err(bad());
        }
        let now = self.clock.now();
        let hash = hash_token(token);
        let record = self
            .store
            .find_refresh_token(&hash)
            .await?
            .ok_or_else(bad)?;
        let session = self
            .store
            .find_session(record.session_id)
            .await?
            .filter(|s| s.client_id.as_deref() == Some(client.id.as_str()))
            .ok_or_else(bad)?;
        if record.used_at.is_some() {
            tracing::warn!(session = %session.id, "refresh token reused: ending its session");
            self.revoke_session(session.id).await?;
            return Err(bad());
        }
        if record.expires_at <= now || !session.is_live(now) {
            return Err(bad());
        }
        // A refresh may ask for fewer of the granted scopes (RFC 6749 §6), never more.
        let scopes = match req.scope.as_deref() {
            Some(scope) => {
                let asked = granted_scopes(scope);
                if scope.split_whitespace().count() != asked.len()
                    || asked.iter().any(|s| !session.scopes.contains(s))
                {
                    return Err(OAuthError::new(
                        "invalid_scope",
                        "a refresh cannot widen the granted scopes",
                    ));
                }
                asked
            }
            None => session.scopes.clone(),
        };
        self.may_sign_in(&session).await?;
        let (secret, next) = self.new_refresh_token(&session, now);
        if !self
            .store
            .use_refresh_token(&hash, now, Some(&next))
            .await?
        {
            self.revoke_session(session.id).await?;
            return Err(bad());
        }
        let mut answer = self
            .issue_for_session(client, &session, &scopes, None, false)
            .await?;
        answer.refresh_token = Some(secret);
        Ok(answer)
    }

    /// A service client's own token: `sub` is the client; its scopes those
    /// asked for, each registered for it (all of them when none is asked for).
    fn client_grant(&self, client: &Client, req: TokenRequest) -> Answer {
        let asked: Vec<&str> = req
            .scope
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if let Some(s) = asked
            .iter()
            .find(|s| !client.scopes.iter().any(|c| c == *s))
        {
            let shown: String = s.chars().take(64).collect();
            return Err(OAuthError::new(
                "invalid_scope",
                format!("{shown:?} is not registered for this client"),
            ));
        }
        let scope = if asked.is_empty() {
            client.scopes.join(" ")
        } else {
            let mut granted: Vec<&str> = Vec::new();
            for s in asked {
                if !granted.contains(&s) {
                    granted.push(s);
                }
            }
            granted.join(" ")
        };
        let now = self.clock.now();
        let (access_token, expires_in) =
            self.client_access_token(client, &client.id, None, &scope, now)?;
        Ok(TokenResponse {
            access_token,
            expires_in,
            refresh_token: None,
            id_token: None,
            scope,
        })
    }

    /// The client's live session of an active user who may sign in.
    async fn client_session(
        &self,
        client: &Client,
        sid: uuid::Uuid,
    ) -> std::result::Result<Session, OAuthError> {
        let now = self.clock.now();
        let bad = || OAuthError::invalid_grant("the sign-in behind this grant has ended");
        let session = self
            .store
            .find_session(sid)
            .await?
            .filter(|s| s.is_live(now) && s.client_id.as_deref() == Some(client.id.as_str()))
            .ok_or_else(bad)?;
        self.may_sign_in(&session).await?;
        Ok(session)
    }

    /// The session's user is active and may sign in.
    async fn may_sign_in(&self, session: &Session) -> std::result::Result<(), OAuthError> {
        match self.user_state(session.user_id).await? {
            Some(u) if u.active && !u.password_expired => Ok(()),
            _ => Err(OAuthError::invalid_grant(
                "the sign-in behind this grant has ended",
            )),
        }
    }

    /// Access token, ID token (scope `openid`) and, at the code exchange, a
    /// refresh token (scope `offline_access` or the client's grants).
    async fn issue_for_session(
        &self,
        client: &Client,
        session: &Session,
        scopes: &[String],
        nonce: Option<&str>,
        first: bool,
    ) -> Answer {
        let now = self.clock.now();
        let user = self
            .user_state(session.user_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
        let scope = scopes.join(" ");
        let sub = user.id.to_string();
        let (access_token, expires_in) =
            self.client_access_token(client, &sub, Some(session.id), &scope, now)?;
        let id_token = if scopes.iter().any(|s| s == "openid") {
            Some(
                self.id_token(client, &user, session, scopes, nonce, now)
                    .await?,
            )
        } else {
            None
        };
        let offline = scopes.iter().any(|s| s == "offline_access")
            || client.grants.contains(&Grant::RefreshToken);
        let refresh_token = if first && offline {
            let (secret, record) = self.new_refresh_token(session, now);
            match self.store.insert_refresh_token(&record).await {
                Err(Error::NotFound(_)) => {
                    return Err(OAuthError::invalid_grant(
                        "the sign-in behind this grant has ended",
                    ))
                }
                other => other?,
            }
            Some(secret)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            expires_in,
            refresh_token,
            id_token,
            scope,
        })
    }
}

/// PKCE (RFC 7636 §4.6): the verifier's S256 must be the code's challenge; a
/// verifier for a code without a challenge is refused too (RFC 9700 §2.1.1).
fn check_verifier(
    challenge: Option<&str>,
    verifier: Option<&str>,
) -> std::result::Result<(), OAuthError> {
    let bad = |why: &str| Err(OAuthError::invalid_grant(why));
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => bad("this code was issued without a code_challenge"),
        (Some(_), None) => bad("code_verifier is missing"),
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            let computed = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
            if well_formed && ct_eq(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                bad("code_verifier does not match the code_challenge")
            }
        }
    }
}
