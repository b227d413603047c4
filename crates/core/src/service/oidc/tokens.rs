//! What the provider's tokens say and who may read them: access tokens for
//! clients (EdDSA JWTs whose audience is the client, never accepted by
//! aegis's own APIs), ID tokens (in the client's chosen algorithm), UserInfo,
//! introspection (RFC 7662), revocation (RFC 7009) and RP-initiated logout.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::client_auth::ClientCredentials;
use super::grants::OAuthError;
use super::{ACR_MFA, ACR_PASSWORD};
use crate::error::{Error, Result};
use crate::keys::SigningAlg;
use crate::oidc::Client;
use crate::secret::hash_token;
use crate::service::{Aegis, Credential, Principal};
use crate::session::{RefreshToken, Session};
use crate::token::Rejection;
use crate::user::User;

/// The claims of an access token issued to a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ClientAccess {
    iss: String,
    /// The user's id, or the client's own for `client_credentials`.
    sub: String,
    /// The client (tokens never count at aegis's own APIs, whose audience differs).
    aud: String,
    client_id: String,
    scope: String,
    /// The client's session (none for `client_credentials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<Uuid>,
    jti: Uuid,
    iat: i64,
    exp: i64,
}

/// What introspection says of a token (RFC 7662 §2.2): `{"active": false}`
/// or its claims.
pub type Introspection = Value;

/// An RP-initiated logout request (OpenID Connect RP-Initiated Logout 1.0).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
}

/// What the browser sees after a logout request.
#[derive(Debug, Clone, PartialEq)]
pub enum LogoutOutcome {
    /// Ask the user to confirm (no valid `id_token_hint`, or one of another
    /// user); the client the request is for, if known.
    Confirm { client_id: Option<String> },
    /// Signed out; back to the client at this address.
    Redirect(String),
    /// Signed out; no address to go back to.
    SignedOut,
}

impl Aegis {
    /// Signs an access token for `client`.
    pub(super) fn client_access_token(
        &self,
        client: &Client,
        sub: &str,
        sid: Option<Uuid>,
        scope: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, i64)> {
        let ttl = self.config.oidc.access_ttl_s as i64;
        let claims = ClientAccess {
            iss: self.config.oidc.issuer.clone(),
            sub: sub.to_owned(),
            aud: client.id.clone(),
            client_id: client.id.clone(),
            scope: scope.to_owned(),
            sid,
            jti: Uuid::now_v7(),
            iat: now.timestamp(),
            exp: now.timestamp() + ttl,
        };
        Ok((self.keys.sign_with(SigningAlg::EdDsa, &claims)?, ttl))
    }

    /// The ID token of a client's session, signed in the client's algorithm.
    pub(super) async fn id_token(
        &self,
        client: &Client,
        user: &User,
        session: &Session,
        scopes: &[String],
        nonce: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let mut claims = self.user_claims(user, scopes).await?;
        let (acr, amr) = if session.second_factor {
            (ACR_MFA, json!(["mfa"]))
        } else {
            (ACR_PASSWORD, json!(["pwd"]))
        };
        let ttl = self.config.oidc.id_token_ttl_s as i64;
        for (k, v) in [
            ("iss", json!(self.config.oidc.issuer)),
            ("aud", json!(client.id)),
            ("exp", json!(now.timestamp() + ttl)),
            ("iat", json!(now.timestamp())),
            ("auth_time", json!(session.created_at.timestamp())),
            ("acr", json!(acr)),
            ("amr", amr),
            ("sid", json!(session.id)),
        ] {
            claims.insert(k.into(), v);
        }
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        self.keys
            .sign_with(client.id_token_alg, &Value::Object(claims))
    }

    /// `sub` and the claims of the granted scopes (OpenID Connect Core §5.4).
    async fn user_claims(&self, user: &User, scopes: &[String]) -> Result<Map<String, Value>> {
        let has = |s: &str| scopes.iter().any(|g| g == s);
        let mut c = Map::new();
        c.insert("sub".into(), json!(user.id));
        if has("profile") {
            let p = &user.profile;
            let given = p.get("first_name").filter(|v| !v.is_empty());
            let family = p.get("last_name").filter(|v| !v.is_empty());
            let name = p
                .get("name")
                .or(p.get("display_name"))
                .filter(|v| !v.is_empty())
                .cloned()
                .or_else(|| {
                    let parts: Vec<&str> = [given, family]
                        .into_iter()
                        .flatten()
                        .map(String::as_str)
                        .collect();
                    (!parts.is_empty()).then(|| parts.join(" "))
                });
            c.insert("preferred_username".into(), json!(user.username.as_str()));
            if let Some(name) = name {
                c.insert("name".into(), json!(name));
            }
            if let Some(given) = given {
                c.insert("given_name".into(), json!(given));
            }
            if let Some(family) = family {
                c.insert("family_name".into(), json!(family));
            }
            c.insert("updated_at".into(), json!(user.updated_at.timestamp()));
        }
        if has("email") {
            if let Some(email) = &user.email {
                c.insert("email".into(), json!(email.as_str()));
                c.insert("email_verified".into(), json!(user.verified));
            }
        }
        if has("groups") {
            let names: Vec<String> = self
                .store
                .groups_of(user.id)
                .await?
                .into_iter()
                .map(|g| g.name)
                .collect();
            c.insert("groups".into(), json!(names));
        }
        if has("roles") {
            c.insert("roles".into(), json!([user.role.as_str()]));
        }
        Ok(c)
    }

    /// Verifies a JWT of this issuer (any of its keys), reloading the keys
    /// once for an unknown one. Expiry is the caller's to check.
    async fn issued_jwt(&self, token: &str) -> Option<Value> {
        let issuer = self.config.oidc.issuer.as_str();
        match self.keys.verify_any(token, issuer) {
            Err(Rejection::UnknownKey) => {
                self.keys.reload(self.store.as_ref()).await.ok()?;
                self.keys.verify_any(token, issuer).ok()
            }
            other => other.ok(),
        }
    }

    /// A live access token issued to a client, with its session (none for a
    /// service client's own token): expired, revoked or foreign tokens are `None`.
    async fn live_access(&self, token: &str) -> Result<Option<(ClientAccess, Option<Session>)>> {
        if token.len() > 8192 {
            return Ok(None);
        }
        let Some(claims) = self.issued_jwt(token).await else {
            return Ok(None);
        };
        let Ok(claims) = serde_json::from_value::<ClientAccess>(claims) else {
            return Ok(None);
        };
        let now = self.clock.now();
        if now.timestamp() > claims.exp + self.config.leeway_s as i64 {
            return Ok(None);
        }
        let Some(sid) = claims.sid else {
            // A service client's token counts while its client exists.
            let exists = self.store.find_client(&claims.client_id).await?.is_some();
            return Ok(exists.then_some((claims, None)));
        };
        let session = self.store.find_session(sid).await?.filter(|s| {
            s.is_live(now) && s.client_id.as_deref() == Some(claims.client_id.as_str())
        });
        let Some(session) = session else {
            return Ok(None);
        };
        let active = self
            .user_state(session.user_id)
            .await?
            .is_some_and(|u| u.active && !u.password_expired);
        Ok(active.then_some((claims, Some(session))))
    }

    /// UserInfo (OpenID Connect Core §5.3): the claims of the token's scopes.
    /// A dead or foreign token is `invalid_token`.
    pub async fn userinfo(&self, bearer: &str) -> std::result::Result<Value, OAuthError> {
        let invalid = || {
            OAuthError::new(
                "invalid_token",
                "the access token is invalid, expired or revoked",
            )
        };
        let (claims, session) = self.live_access(bearer.trim()).await?.ok_or_else(invalid)?;
        let session = session.ok_or_else(invalid)?;
        // The token's own scopes: a refresh may have narrowed them.
        let scopes: Vec<String> = claims.scope.split_whitespace().map(str::to_owned).collect();
        if !scopes.iter().any(|s| s == "openid") {
            return Err(OAuthError::new(
                "insufficient_scope",
                "the token was not granted the openid scope",
            ));
        }
        let user = self
            .user_state(session.user_id)
            .await?
            .ok_or_else(invalid)?;
        Ok(Value::Object(self.user_claims(&user, &scopes).await?))
    }

    /// Introspection (RFC 7662) for a confidential client: only its own
    /// tokens are ever active.
    pub async fn introspect(
        &self,
        creds: &ClientCredentials,
        token: &str,
        endpoint: &str,
    ) -> std::result::Result<Introspection, OAuthError> {
        let client = self.authenticate_client(creds, endpoint, false).await?;
        let inactive = json!({ "active": false });
        if let Some((claims, _)) = self.live_access(token).await? {
            if claims.client_id != client.id {
                return Ok(inactive);
            }
            let mut out = serde_json::to_value(&claims).map_err(Error::internal)?;
            out["active"] = json!(true);
            out["token_type"] = json!("Bearer");
            return Ok(out);
        }
        let Some((record, session)) = self.live_refresh(token).await? else {
            return Ok(inactive);
        };
        if session.client_id.as_deref() != Some(client.id.as_str()) {
            return Ok(inactive);
        }
        Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": client.id,
            "sub": session.user_id,
            "scope": session.scopes.join(" "),
            "sid": session.id,
            "iss": self.config.oidc.issuer,
            "exp": record.expires_at.timestamp(),
        }))
    }

    /// The live session of an unused, unexpired refresh token of a client.
    async fn live_refresh(&self, token: &str) -> Result<Option<(RefreshToken, Session)>> {
        if token.is_empty() || token.len() > 4096 || token.contains('.') {
            return Ok(None);
        }
        let now = self.clock.now();
        let Some(record) = self.store.find_refresh_token(&hash_token(token)).await? else {
            return Ok(None);
        };
        if record.used_at.is_some() || record.expires_at <= now {
            return Ok(None);
        }
        let session = self.store.find_session(record.session_id).await?;
        Ok(session
            .filter(|s| s.is_live(now) && s.client_id.is_some())
            .map(|s| (record, s)))
    }

    /// Revocation (RFC 7009): a refresh or access token of the calling
    /// client ends its session (and so every token of it). Unknown tokens and
    /// other clients' are ignored, as the RFC asks.
    pub async fn revoke_token(
        &self,
        creds: &ClientCredentials,
        token: &str,
        endpoint: &str,
    ) -> std::result::Result<(), OAuthError> {
        let client = self.authenticate_client(creds, endpoint, true).await?;
        let session = match self.live_access(token).await? {
            Some((claims, session)) if claims.client_id == client.id => session,
            Some(_) => None,
            None => self.live_refresh(token).await?.map(|(_, s)| s),
        };
        if let Some(s) = session.filter(|s| s.client_id.as_deref() == Some(client.id.as_str())) {
            self.revoke_session(s.id).await?;
        }
        Ok(())
    }

    /// The user an `id_token_hint` names: an ID token of this issuer (expired
    /// ones too, as the hint allows).
    pub(super) fn id_token_subject(&self, hint: &str) -> Option<Uuid> {
        let claims = self.keys.verify_any(hint, &self.config.oidc.issuer).ok()?;
        id_token_fields(&claims).map(|(sub, _, _)| sub)
    }

    /// RP-initiated logout. A valid `id_token_hint` signs the user out at
    /// once (its client session and the browser's); without one the user
    /// confirms first (`confirmed`). A `post_logout_redirect_uri` must be
    /// registered, byte for byte, for the hint's client (or `client_id`):
    /// anything else is an error page.
    pub async fn end_session(
        &self,
        req: &LogoutRequest,
        browser: Option<&Principal>,
        confirmed: bool,
    ) -> Result<LogoutOutcome> {
        let hint = match req
            .id_token_hint
            .as_deref()
            .filter(|h| !h.is_empty() && h.len() <= 8192)
        {
            Some(h) => {
                let claims = self.issued_jwt(h).await.ok_or_else(|| {
                    Error::invalid("id_token_hint", "is not an ID token of this issuer")
                })?;
                Some(id_token_fields(&claims).ok_or_else(|| {
                    Error::invalid("id_token_hint", "is not an ID token of this issuer")
                })?)
            }
            None => None,
        };
        let client_id = match (&hint, req.client_id.as_deref()) {
            (Some((_, aud, _)), Some(named)) if aud != named => {
                return Err(Error::invalid(
                    "client_id",
                    "differs from the ID token's audience",
                ));
            }
            (Some((_, aud, _)), _) => Some(aud.clone()),
            (None, named) => named.map(str::to_owned),
        };
        let target = match req
            .post_logout_redirect_uri
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            Some(uri) => {
                let client = match &client_id {
                    Some(id) if id.len() <= 512 => self.store.find_client(id).await?,
                    _ => None,
                };
                let registered =
                    client.is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri));
                if !registered {
                    return Err(Error::invalid(
                        "post_logout_redirect_uri",
                        "is not registered for this application",
                    ));
                }
                Some(uri.to_owned())
            }
            None => None,
        };
        // Without a hint, or with one naming another user than the
        // browser's (anyone's own ID token would otherwise sign anyone out),
        // the user confirms first.
        let other_user = match (&hint, browser) {
            (Some((sub, _, _)), Some(p)) => *sub != p.user.id,
            _ => false,
        };
        if (hint.is_none() || other_user) && !confirmed {
            return Ok(LogoutOutcome::Confirm { client_id });
        }
        if let Some((sub, aud, sid)) = &hint {
            let now = self.clock.now();
            let own = self.store.find_session(*sid).await?.filter(|s| {
                s.is_live(now) && s.user_id == *sub && s.client_id.as_deref() == Some(aud.as_str())
            });
            if let Some(s) = own {
                self.revoke_session(s.id).await?;
            }
        }
        if let Some(p) = browser {
            let same_user = hint.as_ref().is_none_or(|(sub, _, _)| *sub == p.user.id);
            if let (Credential::Session { sid, .. }, true) = (&p.credential, same_user) {
                self.revoke_session(*sid).await?;
            }
        }
        Ok(match target {
            Some(uri) => LogoutOutcome::Redirect(with_state(&uri, req.state.as_deref())),
            None => LogoutOutcome::SignedOut,
        })
    }
}

/// `sub`, `aud` and `sid` of an ID token's claims (an access token, which
/// carries `client_id` and no `auth_time`, is not one).
fn id_token_fields(claims: &Value) -> Option<(Uuid, String, Uuid)> {
    if claims.get("client_id").is_some() || claims.get("auth_time").is_none() {
        return None;
    }
    let sub = Uuid::parse_str(claims["sub"].as_str()?).ok()?;
    let aud = claims["aud"].as_str()?.to_owned();
    let sid = Uuid::parse_str(claims["sid"].as_str()?).ok()?;
    Some((sub, aud, sid))
}

/// `uri` with `state` added to its query.
fn with_state(uri: &str, state: Option<&str>) -> String {
    let Some(state) = state.filter(|s| !s.is_empty() && s.len() <= 2048) else {
        return uri.to_owned();
    };
    let query = serde_urlencoded_pair("state", state);
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{query}")
}

/// `key=value`, form-encoded.
fn serde_urlencoded_pair(key: &str, value: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair(key, value)
        .finish()
}
