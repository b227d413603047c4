//! The `pangea` dialect: Pangea AuthN v2 (seed 003), as
//! `shared/spec/pangea-authn.md` pins it, so that the official `pangea-sdk`
//! works unchanged. Every answer is the six-key envelope; every route is POST.

mod body;
mod client;
mod envelope;
mod group_list;
mod groups;
mod ids;
mod imports;
mod listing;
mod paging;
mod session_list;
mod sessions;
mod users;

use std::collections::BTreeMap;
use std::future::Future;

use aegis_core::authz::{require, Capability};
use aegis_core::service::{Authenticator, AuthenticatorKind, UserInfo as CoreUserInfo};
use aegis_core::{Actor, Error, Principal, User};
use axum::extract::{FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use body::Body;
use envelope::{render, render_failure, time, Failure};
pub use imports::UPLOAD_PATH;

use crate::extract::{authorization, read_json, Authorization, ClientIp};
use crate::state::AppState;

/// The Pangea routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(users::router())
        .merge(groups::router())
        .merge(client::router())
        .merge(sessions::router())
        .merge(session_list::router())
        .merge(imports::router())
}

/// True for the paths this dialect owns (`/v2/…`).
pub fn owns(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

/// A bare-status answer in the envelope (unknown route, wrong method).
pub fn status_envelope(state: &AppState, status: StatusCode) -> Response {
    let now = state.aegis.now();
    let f = match status {
        StatusCode::NOT_FOUND => Failure::status(status, "NotFound", "There is no such endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => {
            Failure::status(status, "MethodNotAllowed", "Only POST is allowed")
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            Failure::status(status, "PayloadTooLarge", "The request body is too large")
        }
        _ => Failure::field("InvalidObject", "/", "The request body could not be read"),
    };
    render_failure(f, now, now)
}

/// A core error in the envelope.
pub fn error_envelope(state: &AppState, e: aegis_core::Error) -> Response {
    let now = state.aegis.now();
    render_failure(Failure::from(e), now, now)
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// A service token whose role has this capability.
    Service(Capability),
    /// Any valid credential; the acting user comes from the body.
    Client,
}

/// The caller of a request, as its endpoint needs it.
pub struct Call {
    pub state: AppState,
    pub principal: Principal,
    pub body: Body,
    /// The client's address (for throttling).
    pub ip: Option<std::net::IpAddr>,
}

impl Call {
    /// The caller as an actor of core services.
    pub fn actor(&self) -> Actor {
        Actor::Principal(self.principal.clone())
    }
}

/// Authenticates (401), authorises (403), reads the body (400/413), runs the
/// endpoint and wraps its result — in that order, so a caller that may not call
/// an endpoint learns nothing about the body or the data.
pub async fn run<F, Fut>(state: AppState, req: Request, access: Access, endpoint: F) -> Response
where
    F: FnOnce(Call) -> Fut,
    Fut: Future<Output = Result<(String, Value), Failure>>,
{
    run_raw(state, req, access, |state, principal, req| async move {
        let (mut parts, body) = req.into_parts();
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(&mut parts, &state).await;
        let map = match read_json::<Value>(&parts.headers, body, state.config.max_body_bytes).await
        {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(Failure::field(
                    "InvalidObject",
                    "/",
                    "The request body must be a JSON object",
                ))
            }
            Err(e) => return Err(Failure::from_body(e)),
        };
        endpoint(Call {
            state,
            principal,
            body: Body::new(map),
            ip,
        })
        .await
    })
    .await
}

/// [`run`] for an endpoint that reads the request body itself (uploads).
pub async fn run_raw<F, Fut>(state: AppState, req: Request, access: Access, endpoint: F) -> Response
where
    F: FnOnce(AppState, Principal, Request) -> Fut,
    Fut: Future<Output = Result<(String, Value), Failure>>,
{
    let started = state.aegis.now();
    let outcome = async {
        let token = match authorization(req.headers(), false) {
            Authorization::Token(t) => t,
            _ => return Err(Failure::unauthorized()),
        };
        let principal = state
            .aegis
            .authenticate(&token)
            .await
            .map_err(|e| match e {
                Error::Unauthenticated(_) => Failure::unauthorized(),
                // The database is away (503) or broke (500): not the caller's fault.
                e => Failure::from(e),
            })?;
        if let Access::Service(cap) = access {
            require(principal.rights(), cap)?;
        }
        endpoint(state.clone(), principal, req).await
    }
    .await;
    let now = state.aegis.now();
    match outcome {
        Ok((summary, result)) => render(
            StatusCode::OK,
            "Success",
            &summary,
            result,
            started,
            now,
            None,
        ),
        Err(f) => render_failure(f, started, now),
    }
}

/// `id` / `email` / `username` selectors of one user (spec §3.3).
pub struct Selector {
    id: Option<String>,
    email: Option<String>,
    username: Option<String>,
}

fn id_pattern(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" '.:/_-".contains(&b))
}

fn email_pattern(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+._-".contains(&b))
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
}

fn username_pattern(s: &str) -> bool {
    (2..=320).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+._@-".contains(&b))
}

impl Selector {
    /// Reads the selectors; at least one is required (`/id`, `FieldRequired`).
    pub fn read(body: &mut Body) -> Self {
        let sel = Self {
            id: body.string("id"),
            email: body.string("email"),
            username: body.string("username"),
        };
        body.pattern("id", &sel.id, id_pattern);
        body.pattern("email", &sel.email, email_pattern);
        body.pattern("username", &sel.username, username_pattern);
        if sel.id.is_none() && sel.email.is_none() && sel.username.is_none() && !body.has_errors() {
            body.error(
                "FieldRequired",
                "/id",
                "one of 'id', 'email' or 'username' is required",
            );
        }
        sel
    }

    /// The one user all given selectors name, else `UserNotFound`.
    pub async fn resolve(&self, call: &Call) -> Result<User, Failure> {
        let aegis = &call.state.aegis;
        let actor = call.actor();
        let mut found: Option<User> = None;
        let mut agree = |u: User| -> Result<(), Failure> {
            match &found {
                Some(f) if f.id != u.id => Err(Failure::user_not_found()),
                _ => {
                    found = Some(u);
                    Ok(())
                }
            }
        };
        if let Some(id) = &self.id {
            let uuid = ids::decode(ids::USER, id).map_err(|_| Failure::user_not_found())?;
            let user = aegis.get_user(&actor, uuid).await?;
            agree(user)?;
        }
        if let Some(email) = &self.email {
            let user = aegis.find_user(email).await?;
            let folded = aegis_core::identity::fold(email);
            if user.email.as_ref().map(|e| e.as_str()) != Some(folded.as_str()) {
                return Err(Failure::user_not_found());
            }
            agree(user)?;
        }
        if let Some(name) = &self.username {
            let user = aegis.find_user(name).await?;
            if user.username.as_str() != aegis_core::identity::fold(name) {
                return Err(Failure::user_not_found());
            }
            agree(user)?;
        }
        found.ok_or_else(Failure::user_not_found)
    }
}

/// An authenticator object (spec §3.5): `password`, `totp` or `passkey`, with a
/// passkey's nickname as `provider_name` and its relying party as `rpid`.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaAuthenticator)]
#[serde(deny_unknown_fields)]
pub struct AuthenticatorInfo {
    /// `pau_…`
    #[schema(pattern = "^pau_[a-z2-7]{32}$")]
    id: String,
    #[serde(rename = "type")]
    kind: AuthenticatorType,
    /// The same as `type`.
    provider: AuthenticatorType,
    /// A passkey's nickname.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    provider_name: Option<String>,
    /// A passkey's relying party.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    rpid: Option<String>,
    enabled: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// The authenticator types aegis has (a subset of the spec's enum).
#[derive(Clone, Copy, Serialize, ToSchema)]
#[schema(as = PangeaAuthenticatorType)]
#[serde(rename_all = "lowercase")]
enum AuthenticatorType {
    Password,
    Totp,
    Passkey,
}

fn authenticator(a: &Authenticator) -> AuthenticatorInfo {
    let kind = match a.kind {
        AuthenticatorKind::Password => AuthenticatorType::Password,
        AuthenticatorKind::Totp => AuthenticatorType::Totp,
        AuthenticatorKind::Passkey => AuthenticatorType::Passkey,
    };
    AuthenticatorInfo {
        id: ids::encode(ids::AUTHENTICATOR, a.id),
        kind,
        provider: kind,
        provider_name: a.name.clone(),
        rpid: a.rp_id.clone(),
        enabled: a.enabled,
        created_at: time(a.created_at),
        updated_at: time(a.updated_at),
    }
}

/// The user-info object (spec §3.4): optional facts are left out, never `null`.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaUserInfo)]
#[serde(deny_unknown_fields)]
pub struct UserInfo {
    /// `pui_…`
    #[schema(pattern = "^pui_[a-z2-7]{32}$")]
    id: String,
    /// `""` for a user without an email.
    email: String,
    username: String,
    profile: BTreeMap<String, String>,
    verified: bool,
    disabled: bool,
    /// A throttle lock-out is in force.
    locked_out: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(minimum = 0)]
    login_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    last_login_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    last_login_ip: Option<String>,
    /// E.164.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    phone: Option<String>,
    authenticators: Vec<AuthenticatorInfo>,
    /// Group ids, `pgi_…`.
    groups: Vec<String>,
}

/// The user-info object of a user.
pub fn user_info(info: &CoreUserInfo) -> Value {
    let u = &info.user;
    json!(UserInfo {
        id: ids::encode(ids::USER, u.id),
        email: u
            .email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
        username: u.username.as_str().to_owned(),
        profile: u.profile.clone(),
        verified: u.verified,
        disabled: !u.active,
        locked_out: info.locked_out,
        created_at: time(u.created_at),
        login_count: u.login_count,
        last_login_at: u.last_login_at.map(time),
        last_login_ip: u.last_login_ip.clone(),
        phone: u.phone.clone(),
        authenticators: info.authenticators.iter().map(authenticator).collect(),
        groups: info
            .groups
            .iter()
            .map(|g| ids::encode(ids::GROUP, *g))
            .collect(),
    })
}
