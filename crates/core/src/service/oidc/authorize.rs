//! The authorization endpoint's decisions (OpenID Connect Core §3.1.2):
//! check the client and redirect URI (a failure is a page, never a
//! redirect), then the request (a failure goes back to the client), then
//! sign-in, then consent, then a code.
//!
//! A request that must wait for the sign-in or the consent page travels as a
//! sealed *resume* value (KEK-encrypted, expiring): nothing is stored until a
//! code is issued, and nothing in it can be changed by the browser.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::redirect;
use super::request::{Checked, Refusal};
use crate::error::{Error, Result};
use crate::oidc::{AuthCode, Client, Consent, Grant};
use crate::secret::{hash_token, prefixed_token};
use crate::service::{Aegis, Credential, Principal};
use crate::session::{RefreshToken, Session};
use crate::telemetry;

/// The KEK context of sealed authorization requests.
const RESUME_CONTEXT: &str = "oidc-authorize";
/// What every authorization code starts with.
pub(super) const CODE_PREFIX: &str = "oac_";
/// Longest value of one parameter.
pub(super) const MAX_PARAM: usize = 2048;
/// Longest sealed request accepted back.
const MAX_RESUME: usize = 16 * 1024;

/// The authorization request's parameters, as sent (unknown ones are dropped
/// by the caller). Every one is optional here; the rules say which must be there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    pub acr_values: Option<String>,
}

/// How the answer travels back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ResponseMode {
    /// In the redirect URI's query.
    #[default]
    Query,
    /// As an auto-submitted HTML form POST to the redirect URI.
    FormPost,
}

/// An answer for the client, at its redirect URI.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizeResponse {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    /// `code`, `state`, `iss`, or `error`, `error_description`, `state`, `iss`.
    pub params: Vec<(&'static str, String)>,
}

/// What the browser sees next.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizeOutcome {
    /// Sign in first, then come back with `resume`.
    SignIn {
        resume: String,
        login_hint: Option<String>,
    },
    /// Ask the user to allow `client_name` the `scopes`, then come back with
    /// `resume` and the decision.
    Consent {
        client_name: String,
        scopes: Vec<String>,
        resume: String,
    },
    /// Back to the client.
    Redirect(AuthorizeResponse),
}

/// A sealed request: the checked request, where it stands, and its end.
#[derive(Serialize, Deserialize)]
struct Sealed {
    req: Checked,
    /// Seconds since the epoch.
    until: i64,
    /// The browser session the consent page was shown to (it alone may answer).
    consent_sid: Option<Uuid>,
}

impl Aegis {
    /// `GET|POST /authorize`: checks the request and decides what the browser
    /// does next. `Err` (an unknown client, an unregistered redirect URI) is
    /// shown as an error page and never redirected.
    pub async fn authorize(
        &self,
        params: &AuthorizeParams,
        browser: Option<&Principal>,
    ) -> Result<AuthorizeOutcome> {
        let (client, redirect_uri, mode) = self.client_and_redirect(params).await?;
        let now = self.clock.now();
        let req = match self.check_request(params, &client, redirect_uri, mode, now) {
            Ok(req) => req,
            Err(Refusal(code, why)) => {
                let state = params.state.clone().filter(|s| s.len() <= MAX_PARAM);
                return Ok(self.error_response(&redirect_uri_of(params), mode, code, &why, state));
            }
        };
        self.proceed(req, &client, browser, false).await
    }

    /// Back from the sign-in page with a sealed request.
    pub async fn authorize_resume(
        &self,
        resume: &str,
        browser: Option<&Principal>,
    ) -> Result<AuthorizeOutcome> {
        let sealed = self.open_resume(resume)?;
        let client = self.live_client(&sealed.req.client_id).await?;
        self.proceed(sealed.req, &client, browser, true).await
    }

    /// The consent page's answer.
    pub async fn authorize_consent(
        &self,
        resume: &str,
        browser: Option<&Principal>,
        allow: bool,
    ) -> Result<AuthorizeOutcome> {
        let sealed = self.open_resume(resume)?;
        let client = self.live_client(&sealed.req.client_id).await?;
        let req = sealed.req;
        let Some((principal, session)) = self.browser_session(browser).await? else {
            return Ok(self.refusal(&req, "login_required", "the sign-in ended"));
        };
        if sealed.consent_sid != Some(session.id) {
            return Err(Error::invalid(
                "request",
                "this consent form belongs to another sign-in",
            ));
        }
        if !allow {
            telemetry::grant("authorization_code", "denied");
            return Ok(self.refusal(&req, "access_denied", "the user denied the request"));
        }
        let mut scopes = req.scopes.clone();
        scopes.sort();
        let consent = Consent {
            user_id: principal.user.id,
            client_id: client.id.clone(),
            scopes,
            granted_at: self.clock.now(),
        };
        self.store.upsert_consent(&consent).await?;
        self.issue_code(&req, &client, &principal, &session).await
    }

    /// The client and the redirect URI it registered: a page error when either is wrong.
    async fn client_and_redirect(
        &self,
        params: &AuthorizeParams,
    ) -> Result<(Client, String, ResponseMode)> {
        let id = params.client_id.as_deref().unwrap_or_default();
        let client = self.live_client(id).await?;
        let requested = params.redirect_uri.as_deref().unwrap_or_default();
        let redirect_uri = redirect::find(&client.redirect_uris, requested)
            .map(|_| requested.to_owned())
            .ok_or_else(|| {
                Error::invalid(
                    "redirect_uri",
                    "this redirect URI is not registered for the application",
                )
            })?;
        let mode = match params.response_mode.as_deref() {
            Some("form_post") => ResponseMode::FormPost,
            _ => ResponseMode::Query,
        };
        Ok((client, redirect_uri, mode))
    }

    /// A client that may use the authorization endpoint.
    async fn live_client(&self, id: &str) -> Result<Client> {
        if id.is_empty() || id.len() > MAX_PARAM {
            return Err(Error::invalid("client_id", "no such application"));
        }
        self.store
            .find_client(id)
            .await?
            .filter(|c| c.grants.contains(&Grant::AuthorizationCode))
            .ok_or_else(|| Error::invalid("client_id", "no such application"))
    }

    /// Sign-in, then consent, then the code.
    async fn proceed(
        &self,
        req: Checked,
        client: &Client,
        browser: Option<&Principal>,
        resumed: bool,
    ) -> Result<AuthorizeOutcome> {
        let session = self.browser_session(browser).await?;
        let signed_in = session.as_ref().filter(|(p, s)| {
            let fresh = req
                .auth_after
                .is_none_or(|t| s.created_at.timestamp_micros() >= t);
            let same = req.hint_sub.is_none_or(|sub| sub == p.user.id);
            fresh && same && (!req.mfa || s.second_factor)
        });
        let Some((principal, session)) = signed_in else {
            if req.prompt_none {
                return Ok(self.refusal(&req, "login_required", "the user is not signed in"));
            }
            if resumed {
                // Back from the sign-in page and still short: a fresh loop
                // would not help.
                let why = match &session {
                    Some((_, s)) if req.mfa && !s.second_factor => {
                        return Ok(self.refusal(
                            &req,
                            "access_denied",
                            "this application requires a second factor, and the sign-in had none",
                        ));
                    }
                    _ => "the sign-in did not satisfy the request",
                };
                return Ok(self.refusal(&req, "login_required", why));
            }
            let login_hint = req.login_hint.clone();
            let resume = self.seal_resume(&req, None)?;
            return Ok(AuthorizeOutcome::SignIn { resume, login_hint });
        };
        if !client.first_party {
            let stored = self
                .store
                .find_consent(principal.user.id, &client.id)
                .await?;
            let covered = stored.is_some_and(|c| req.scopes.iter().all(|s| c.scopes.contains(s)));
            if !covered || req.prompt_consent {
                if req.prompt_none {
                    return Ok(self.refusal(
                        &req,
                        "consent_required",
                        "the user has not allowed this application",
                    ));
                }
                let resume = self.seal_resume(&req, Some(session.id))?;
                return Ok(AuthorizeOutcome::Consent {
                    client_name: client.name.clone(),
                    scopes: req.scopes.clone(),
                    resume,
                });
            }
        }
        self.issue_code(&req, client, principal, session).await
    }

    /// The browser's signed-in user and session, when it has a live one.
    async fn browser_session(
        &self,
        browser: Option<&Principal>,
    ) -> Result<Option<(Principal, Session)>> {
        let Some(p) = browser else { return Ok(None) };
        let Credential::Session { sid, .. } = p.credential else {
            return Ok(None);
        };
        let now = self.clock.now();
        let session = self
            .store
            .find_session(sid)
            .await?
            .filter(|s| s.is_live(now) && s.client_id.is_none());
        Ok(session.map(|s| (p.clone(), s)))
    }

    /// Opens the client's session (the browser session's sign-in time, second
    /// factor and end carry over) and issues a code bound to it.
    async fn issue_code(
        &self,
        req: &Checked,
        client: &Client,
        principal: &Principal,
        browser: &Session,
    ) -> Result<AuthorizeOutcome> {
        let user = Arc::clone(&principal.user);
        if !user.active || user.password_expired {
            return Ok(self.refusal(req, "access_denied", "this account cannot sign in"));
        }
        let now = self.clock.now();
        let session = self.client_session_of(req, client, browser, now).await?;
        let code = prefixed_token(CODE_PREFIX);
        let record = AuthCode {
            hash: hash_token(&code),
            client_id: client.id.clone(),
            user_id: user.id,
            session_id: session.id,
            redirect_uri: req.redirect_uri.clone(),
            scopes: req.scopes.clone(),
            nonce: req.nonce.clone(),
            code_challenge: req.challenge.clone(),
            auth_time: browser.created_at,
            created_at: now,
            expires_at: now + Duration::seconds(self.config.oidc.code_ttl_s as i64),
            used_at: None,
        };
        self.store.insert_auth_code(&record).await?;
        let mut params = vec![("code", code)];
        if let Some(state) = &req.state {
            params.push(("state", state.clone()));
        }
        params.push(("iss", self.config.oidc.issuer.clone()));
        Ok(AuthorizeOutcome::Redirect(AuthorizeResponse {
            redirect_uri: req.redirect_uri.clone(),
            mode: req.mode,
            params,
        }))
    }

    /// The client's session opened from this browser session for these
    /// scopes: the one already open, else a new one (so that however many
    /// times a browser authorizes a client, one session stands for it).
    async fn client_session_of(
        &self,
        req: &Checked,
        client: &Client,
        browser: &Session,
        now: DateTime<Utc>,
    ) -> Result<Session> {
        let mut wanted = req.scopes.clone();
        wanted.sort();
        if let Some(open) = self
            .store
            .find_child_session(browser.id, &client.id)
            .await?
        {
            let mut held = open.scopes.clone();
            held.sort();
            if open.is_live(now) && held == wanted {
                return Ok(open);
            }
        }
        let session = Session {
            id: Uuid::now_v7(),
            user_id: browser.user_id,
            created_at: browser.created_at,
            expires_at: browser.expires_at,
            revoked_at: None,
            second_factor: browser.second_factor,
            client_id: Some(client.id.clone()),
            scopes: req.scopes.clone(),
            parent_id: Some(browser.id),
        };
        // The session's first refresh token is born spent: each exchange
        // adds the one the client gets.
        let placeholder = RefreshToken {
            hash: hash_token(&prefixed_token("ptr_")),
            session_id: session.id,
            created_at: now,
            expires_at: now,
            used_at: Some(now),
        };
        self.store.insert_session(&session, &placeholder).await?;
        Ok(session)
    }

    fn refusal(&self, req: &Checked, code: &'static str, why: &str) -> AuthorizeOutcome {
        self.error_response(&req.redirect_uri, req.mode, code, why, req.state.clone())
    }

    fn error_response(
        &self,
        redirect_uri: &str,
        mode: ResponseMode,
        code: &'static str,
        why: &str,
        state: Option<String>,
    ) -> AuthorizeOutcome {
        let mut params = vec![
            ("error", code.to_owned()),
            ("error_description", why.to_owned()),
        ];
        if let Some(state) = state {
            params.push(("state", state));
        }
        params.push(("iss", self.config.oidc.issuer.clone()));
        AuthorizeOutcome::Redirect(AuthorizeResponse {
            redirect_uri: redirect_uri.to_owned(),
            mode,
            params,
        })
    }

    fn seal_resume(&self, req: &Checked, consent_sid: Option<Uuid>) -> Result<String> {
        let until = self.clock.now().timestamp() + self.config.oidc.request_ttl_s as i64;
        let sealed = Sealed {
            req: req.clone(),
            until,
            consent_sid,
        };
        let plain = serde_json::to_vec(&sealed).map_err(Error::internal)?;
        Ok(URL_SAFE_NO_PAD.encode(self.kek.seal(RESUME_CONTEXT, &plain)?))
    }

    fn open_resume(&self, resume: &str) -> Result<Sealed> {
        let expired = || {
            Error::invalid(
                "request",
                "the sign-in request has expired; start again from the application",
            )
        };
        if resume.len() > MAX_RESUME {
            return Err(expired());
        }
        let bytes = URL_SAFE_NO_PAD.decode(resume).map_err(|_| expired())?;
        let plain = self
            .kek
            .open(RESUME_CONTEXT, &bytes)
            .map_err(|_| expired())?;
        let sealed: Sealed = serde_json::from_slice(&plain).map_err(|_| expired())?;
        if self.clock.now().timestamp() >= sealed.until {
            return Err(expired());
        }
        Ok(sealed)
    }
}

/// The redirect URI as sent (only used once it was found registered).
fn redirect_uri_of(p: &AuthorizeParams) -> String {
    p.redirect_uri.clone().unwrap_or_default()
}
