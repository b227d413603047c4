//! Passkey ceremonies for the hosted pages, called by `assets/passkey.js`:
//! form posts (CSRF-checked like every other) answered with JSON.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aegis_core::service::PasskeyCeremony;
use aegis_core::Error;

use super::{csrf_ok, failure, landing, login_identifier, refuse_target, session, Target, FORM};
use crate::extract::ClientIp;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login_begin))
        .routes(routes!(login_finish))
        .routes(routes!(register_begin))
        .routes(routes!(register_finish))
}

/// The form every ceremony step posts: `identifier` to begin a sign-in,
/// `ceremony` and `credential` (the browser's answer, JSON) to finish, `name`
/// for a new passkey.
#[derive(Default, Deserialize, ToSchema)]
#[serde(default)]
struct PasskeyForm {
    csrf: String,
    identifier: String,
    ceremony: String,
    credential: String,
    name: String,
    redirect_uri: String,
    state: String,
    resume: String,
}

/// A ceremony's start: the WebAuthn options and the sealed state to send back.
#[derive(Serialize, ToSchema)]
#[schema(as = PasskeyCeremonyStart)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CeremonyDoc {
    /// For `navigator.credentials.get` or `.create`.
    options: Value,
    /// Sealed; posted back as `ceremony`.
    state: String,
}

/// Signed in: where the browser goes next.
#[derive(Serialize, ToSchema)]
#[schema(as = PasskeySignedIn)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SignedInDoc {
    /// Back to the application with a login code, or `/account`.
    location: String,
}

/// The passkey is stored.
#[derive(Serialize, ToSchema)]
#[schema(as = PasskeyRegistered)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RegisteredDoc {
    ok: bool,
}

// What `refusal` renders.
/// A refusal.
#[derive(Serialize, ToSchema)]
#[schema(as = PasskeyError)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RefusalDoc {
    error: String,
}

fn refusal(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "error": text }))).into_response()
}

fn from_core(e: Error) -> Response {
    let (status, text, _) = match e {
        Error::InvalidField { reason, .. } => (StatusCode::BAD_REQUEST, reason, None),
        Error::Unauthenticated(_) => (
            StatusCode::UNAUTHORIZED,
            "No passkey sign-in for this account, or the passkey was not accepted.".to_owned(),
            None,
        ),
        e => failure(e),
    };
    refusal(status, &text)
}

fn ceremony(c: PasskeyCeremony) -> Response {
    Json(json!({ "options": c.options, "state": c.state })).into_response()
}

/// The form, its CSRF token checked.
fn checked(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<PasskeyForm>, FormRejection>,
) -> Result<PasskeyForm, (StatusCode, &'static str)> {
    let Ok(Form(form)) = form else {
        return Err((StatusCode::BAD_REQUEST, "The form could not be read."));
    };
    if !csrf_ok(state, headers, &form.csrf) {
        return Err((
            StatusCode::FORBIDDEN,
            "The form has expired. Reload the page and try again.",
        ));
    }
    Ok(form)
}

/// `POST /login/passkey/begin`: the options for `navigator.credentials.get`,
/// alike for every identifier (or none: usernameless sign-in).
#[utoipa::path(post, path = "/login/passkey/begin", tag = "web", operation_id = "web_passkey_login_begin",
    request_body(content = PasskeyForm, content_type = FORM),
    responses(
        (status = 200, description = "The ceremony: the same for every identifier (the browser picks a discoverable passkey; a typed identifier is sealed in and must be the passkey's account)", body = CeremonyDoc),
        (status = 400, description = "An unreadable form", body = RefusalDoc),
        (status = 403, description = "The CSRF token does not match the cookie", body = RefusalDoc)))]
async fn login_begin(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<PasskeyForm>, FormRejection>,
) -> Response {
    let form = match checked(&state, &headers, form) {
        Ok(f) => f,
        Err((status, text)) => return refusal(status, text),
    };
    let identifier = login_identifier(&form.identifier);
    match state.aegis.begin_passkey_login(&identifier).await {
        Ok(c) => ceremony(c),
        Err(e) => from_core(e),
    }
}

/// `POST /login/passkey/finish`: signed in; `{"location": …}` says where to go.
#[utoipa::path(post, path = "/login/passkey/finish", tag = "web", operation_id = "web_passkey_login_finish",
    request_body(content = PasskeyForm, content_type = FORM),
    responses(
        (status = 200, description = "Signed in; sets the session cookie", body = SignedInDoc),
        (status = 400, description = "An unreadable form or a refused value", body = RefusalDoc),
        (status = 403, description = "The CSRF token does not match the cookie", body = RefusalDoc),
        (status = 401, description = "The passkey was not accepted", body = RefusalDoc),
        (status = 429, description = "Throttled", body = RefusalDoc)))]
async fn login_finish(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<PasskeyForm>, FormRejection>,
) -> Response {
    let form = match checked(&state, &headers, form) {
        Ok(f) => f,
        Err((status, text)) => return refusal(status, text),
    };
    let target = Target {
        redirect_uri: form.redirect_uri,
        state: form.state,
        resume: form.resume,
        identifier: String::new(),
    };
    if refuse_target(&state, &target).is_some() {
        return refusal(
            StatusCode::BAD_REQUEST,
            "This application is not registered to use this sign-in page.",
        );
    }
    match state
        .aegis
        .finish_passkey_login(&form.ceremony, &form.credential, ip)
        .await
    {
        Ok(login) => {
            landing(&state, login, &target, |to| {
                Json(json!({ "location": to })).into_response()
            })
            .await
        }
        Err(e) => from_core(e),
    }
}

/// `POST /account/passkey/begin`: the options for `navigator.credentials.create`.
#[utoipa::path(post, path = "/account/passkey/begin", tag = "web", operation_id = "web_passkey_register_begin",
    request_body(content = PasskeyForm, content_type = FORM),
    responses(
        (status = 200, description = "The ceremony", body = CeremonyDoc),
        (status = 400, description = "An unreadable form or a refused value", body = RefusalDoc),
        (status = 403, description = "The CSRF token does not match the cookie", body = RefusalDoc),
        (status = 401, description = "No session cookie", body = RefusalDoc)))]
async fn register_begin(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<PasskeyForm>, FormRejection>,
) -> Response {
    if let Err((status, text)) = checked(&state, &headers, form) {
        return refusal(status, text);
    }
    let Some(me) = session(&state, &headers).await else {
        return refusal(StatusCode::UNAUTHORIZED, "Sign in first.");
    };
    match state.aegis.begin_passkey_registration(&me).await {
        Ok(c) => ceremony(c),
        Err(Error::Forbidden) => refusal(
            StatusCode::FORBIDDEN,
            "Second factors can only be changed soon after signing in: sign out, sign in \
             again and retry.",
        ),
        Err(e) => from_core(e),
    }
}

/// `POST /account/passkey/finish`: the passkey stored.
#[utoipa::path(post, path = "/account/passkey/finish", tag = "web", operation_id = "web_passkey_register_finish",
    request_body(content = PasskeyForm, content_type = FORM),
    responses(
        (status = 200, description = "Stored", body = RegisteredDoc),
        (status = 400, description = "An unreadable form or a refused value", body = RefusalDoc),
        (status = 403, description = "The CSRF token does not match the cookie", body = RefusalDoc),
        (status = 401, description = "No session cookie", body = RefusalDoc)))]
async fn register_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<PasskeyForm>, FormRejection>,
) -> Response {
    let form = match checked(&state, &headers, form) {
        Ok(f) => f,
        Err((status, text)) => return refusal(status, text),
    };
    let Some(me) = session(&state, &headers).await else {
        return refusal(StatusCode::UNAUTHORIZED, "Sign in first.");
    };
    match state
        .aegis
        .finish_passkey_registration(&me, &form.ceremony, &form.credential, &form.name)
        .await
    {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(Error::Forbidden) => refusal(StatusCode::FORBIDDEN, "Sign in again first."),
        Err(e) => from_core(e),
    }
}
