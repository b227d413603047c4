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

use std::future::Future;

use aegis_core::authz::{require, Capability};
use aegis_core::service::{Authenticator, AuthenticatorKind, UserInfo};
use aegis_core::{Actor, Principal, User};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};
use utoipa_axum::router::OpenApiRouter;

use body::Body;
use envelope::{render, render_failure, time, Failure};
pub use imports::UPLOAD_PATH;

use crate::extract::{authorization, read_json, Authorization};
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
        let (parts, body) = req.into_parts();
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
            .map_err(|_| Failure::unauthorized())?;
        if let Access::Service(cap) = access {
            require(principal.role(), cap)?;
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

/// The user-info object (spec §3.4).
/// An authenticator object (spec §3.5): `password`, `totp` or `passkey`, with a
/// passkey's nickname as `provider_name` and its relying party as `rpid`.
fn authenticator(a: &Authenticator) -> Value {
    let kind = match a.kind {
        AuthenticatorKind::Password => "password",
        AuthenticatorKind::Totp => "totp",
        AuthenticatorKind::Passkey => "passkey",
    };
    let mut v = json!({
        "id": ids::encode(ids::AUTHENTICATOR, a.id),
        "type": kind,
        "provider": kind,
        "enabled": a.enabled,
        "created_at": time(a.created_at),
        "updated_at": time(a.updated_at),
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(name) = &a.name {
            obj.insert("provider_name".into(), json!(name));
        }
        if let Some(rp_id) = &a.rp_id {
            obj.insert("rpid".into(), json!(rp_id));
        }
    }
    v
}

pub fn user_info(info: &UserInfo) -> Value {
    let u = &info.user;
    let mut v = json!({
        "id": ids::encode(ids::USER, u.id),
        "email": u.email.as_ref().map(|e| e.as_str()).unwrap_or(""),
        "username": u.username.as_str(),
        "profile": u.profile,
        "verified": u.verified,
        "disabled": !u.active,
        "locked_out": info.locked_out,
        "created_at": time(u.created_at),
        "login_count": u.login_count,
        "authenticators": info.authenticators.iter().map(authenticator).collect::<Vec<_>>(),
        "groups": info.groups.iter().map(|g| ids::encode(ids::GROUP, *g)).collect::<Vec<_>>(),
    });
    let obj = v.as_object_mut().map(|o| o as &mut Map<String, Value>);
    if let Some(obj) = obj {
        if let Some(t) = u.last_login_at {
            obj.insert("last_login_at".into(), json!(time(t)));
        }
        if let Some(ip) = &u.last_login_ip {
            obj.insert("last_login_ip".into(), json!(ip));
        }
        if let Some(phone) = &u.phone {
            obj.insert("phone".into(), json!(phone));
        }
    }
    v
}
