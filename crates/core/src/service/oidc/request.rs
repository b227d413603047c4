//! The rules of an authorization request once its client and redirect URI
//! are known (OpenID Connect Core §3.1.2.1, RFC 7636, RFC 9700): what a code
//! will be bound to, or the refusal that goes back to the client.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::authorize::{AuthorizeParams, ResponseMode, MAX_PARAM};
use super::ACR_MFA;
use crate::oidc::Client;
use crate::service::Aegis;

/// A checked request: everything a code will be bound to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Checked {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) mode: ResponseMode,
    pub(super) scopes: Vec<String>,
    pub(super) state: Option<String>,
    pub(super) nonce: Option<String>,
    pub(super) challenge: Option<String>,
    pub(super) prompt_none: bool,
    pub(super) prompt_login: bool,
    pub(super) prompt_consent: bool,
    /// The sign-in must be at or after this (micros): `prompt=login`, `max_age`.
    pub(super) auth_after: Option<i64>,
    pub(super) login_hint: Option<String>,
    /// The user an `id_token_hint` names.
    pub(super) hint_sub: Option<Uuid>,
    pub(super) mfa: bool,
}

/// A refusal that goes back to the client.
pub(super) struct Refusal(pub(super) &'static str, pub(super) String);

pub(super) fn refuse(code: &'static str, why: impl Into<String>) -> Refusal {
    Refusal(code, why.into())
}

impl Aegis {
    /// Every rule of the request once its client and redirect URI are known.
    pub(super) fn check_request(
        &self,
        p: &AuthorizeParams,
        client: &Client,
        redirect_uri: String,
        mode: ResponseMode,
        now: DateTime<Utc>,
    ) -> std::result::Result<Checked, Refusal> {
        let long = [
            &p.scope,
            &p.state,
            &p.nonce,
            &p.code_challenge,
            &p.prompt,
            &p.max_age,
            &p.login_hint,
            &p.acr_values,
            &p.response_type,
        ]
        .iter()
        .any(|v| v.as_ref().is_some_and(|v| v.len() > MAX_PARAM));
        if long || p.id_token_hint.as_ref().is_some_and(|v| v.len() > 8192) {
            return Err(refuse("invalid_request", "a parameter is too long"));
        }
        if let Some(m) = p.response_mode.as_deref() {
            if m != "query" && m != "form_post" {
                return Err(refuse(
                    "invalid_request",
                    "response_mode must be query or form_post",
                ));
            }
        }
        match p.response_type.as_deref() {
            Some("code") => {}
            None | Some("") => return Err(refuse("invalid_request", "response_type is missing")),
            Some(_) => {
                return Err(refuse(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ))
            }
        }
        let challenge = check_pkce(p, client)?;
        let prompts: Vec<&str> = p
            .prompt
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let prompt_none = prompts.contains(&"none");
        if prompt_none && prompts.len() > 1 {
            return Err(refuse("invalid_request", "prompt=none cannot be combined"));
        }
        let mut auth_after = None;
        let prompt_login = prompts.contains(&"login") || prompts.contains(&"select_account");
        if prompt_login {
            auth_after = Some(now.timestamp_micros());
        }
        if let Some(max_age) = p.max_age.as_deref().filter(|m| !m.is_empty()) {
            let secs: i64 =
                max_age.parse().ok().filter(|s| *s >= 0).ok_or_else(|| {
                    refuse("invalid_request", "max_age must be a number of seconds")
                })?;
            let after = now - Duration::seconds(secs.min(100 * 365 * 86_400));
            auth_after = Some(auth_after.unwrap_or(i64::MIN).max(after.timestamp_micros()));
        }
        let hint_sub = match p.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
            Some(hint) => Some(self.id_token_subject(hint).ok_or_else(|| {
                refuse(
                    "invalid_request",
                    "id_token_hint is not an ID token of this issuer",
                )
            })?),
            None => None,
        };
        let mfa = p
            .acr_values
            .as_deref()
            .is_some_and(|v| v.split_whitespace().any(|a| a == ACR_MFA));
        Ok(Checked {
            client_id: client.id.clone(),
            redirect_uri,
            mode,
            scopes: granted_scopes(p.scope.as_deref().unwrap_or("")),
            state: p.state.clone(),
            nonce: p.nonce.clone().filter(|n| !n.is_empty()),
            challenge,
            prompt_none,
            prompt_login,
            prompt_consent: prompts.contains(&"consent"),
            auth_after,
            login_hint: p.login_hint.clone().filter(|h| !h.is_empty()),
            hint_sub,
            mfa,
        })
    }
}

/// The S256 challenge: required of public clients, honoured for others;
/// `plain` (also the default method) refused.
fn check_pkce(
    p: &AuthorizeParams,
    client: &Client,
) -> std::result::Result<Option<String>, Refusal> {
    let challenge = p.code_challenge.as_deref().filter(|c| !c.is_empty());
    let Some(challenge) = challenge else {
        if client.public {
            return Err(refuse(
                "invalid_request",
                "a public client must use PKCE (code_challenge with S256)",
            ));
        }
        if p.code_challenge_method
            .as_deref()
            .is_some_and(|m| !m.is_empty())
        {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method without code_challenge",
            ));
        }
        return Ok(None);
    };
    if p.code_challenge_method.as_deref() != Some("S256") {
        return Err(refuse(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(refuse(
            "invalid_request",
            "code_challenge is not a base64url SHA-256",
        ));
    }
    Ok(Some(challenge.to_owned()))
}

/// The known scopes of a `scope` parameter, in order, once each.
pub(super) fn granted_scopes(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split_whitespace() {
        if super::SCOPES.contains(&s) && !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}
