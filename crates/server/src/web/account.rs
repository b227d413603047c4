//! `/account`: the signed-in user's own page — password change, TOTP enrollment
//! (QR code and a confirming code), recovery codes (shown once), removal of
//! second factors, and the user's sessions. Every change is a CSRF-checked form
//! post that acts through the core as the session's user.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use qrcode::render::svg;
use qrcode::QrCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use aegis_core::mfa::FactorKind;
use aegis_core::session::SessionQuery;
use aegis_core::{Actor, Credential, Error, Principal};

use super::{
    bad_form, csrf_ok, csrf_token, forbidden_csrf, page, see_other, session, set_cookie, FORM,
};
use crate::extract::ClientIp;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show))
        .routes(routes!(change_password))
        .routes(routes!(begin_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(new_recovery_codes))
        .routes(routes!(remove_factor))
        .routes(routes!(end_session))
        .routes(routes!(revoke_consent))
}

struct AppRow {
    client_id: String,
    name: String,
    scopes: String,
}

struct FactorRow {
    id: Uuid,
    label: String,
}

struct SessionRow {
    id: Uuid,
    started: String,
    current: bool,
    /// The OpenID client the session was opened for.
    app: Option<String>,
}

struct Enrolling {
    id: Uuid,
    secret: String,
    qr_svg: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    who: &'a str,
    csrf: &'a str,
    notice: Option<&'a str>,
    error: Option<String>,
    enrolling: Option<Enrolling>,
    recovery: Vec<String>,
    recovery_left: Option<u32>,
    factors: Vec<FactorRow>,
    sessions: Vec<SessionRow>,
    apps: Vec<AppRow>,
}

/// What a post adds to the page it answers with.
#[derive(Default)]
struct Outcome {
    notice: Option<&'static str>,
    error: Option<String>,
    enrolling: Option<Enrolling>,
    recovery: Vec<String>,
}

/// A form with only the CSRF token.
#[derive(Default, Deserialize, ToSchema)]
#[schema(as = AccountPlainForm)]
#[serde(default)]
struct PlainForm {
    csrf: String,
}

/// A form naming a second factor or a session (`id`, a UUID) and, to
/// confirm a TOTP enrollment, its first `code`.
#[derive(Default, Deserialize, ToSchema)]
#[schema(as = AccountIdForm)]
#[serde(default)]
struct IdForm {
    csrf: String,
    id: String,
    code: String,
}

/// The password change form.
#[derive(Default, Deserialize, ToSchema)]
#[schema(as = AccountPasswordForm)]
#[serde(default)]
struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
}

/// The page, as the user's current state and `outcome` make it.
async fn render(
    state: &AppState,
    headers: &HeaderMap,
    me: &Principal,
    outcome: Outcome,
) -> Response {
    let aegis = &state.aegis;
    let (csrf, fresh) = csrf_token(state, headers);
    let factors = match aegis.factors(me.user.id).await {
        Ok(f) => f,
        Err(e) => return failed(e),
    };
    let factors = factors
        .into_iter()
        .filter(|f| f.enabled)
        .map(|f| FactorRow {
            id: f.id,
            label: match f.kind {
                FactorKind::Totp => "Authenticator app".to_owned(),
                FactorKind::Passkey if f.name.is_empty() => "Passkey".to_owned(),
                FactorKind::Passkey => format!("Passkey “{}”", f.name),
            },
        })
        .collect();
    // `None` for a user whose role manages nothing of its own (`view`).
    let recovery_left = match aegis.recovery_codes_left(me).await {
        Ok(n) => Some(n),
        Err(Error::Forbidden) => None,
        Err(e) => return failed(e),
    };
    let current = match me.credential {
        Credential::Session { sid, .. } => Some(sid),
        Credential::ApiToken { .. } => None,
    };
    let query = SessionQuery {
        size: 100,
        ..SessionQuery::default()
    };
    let sessions = match aegis.list_own_sessions(me, &query).await {
        Ok(page) => page.items,
        Err(e) => return failed(e),
    };
    let sessions = sessions
        .into_iter()
        .map(|(s, _)| SessionRow {
            id: s.id,
            started: s.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            current: Some(s.id) == current,
            app: s.client_id,
        })
        .collect();
    let apps = match aegis.consents_of(&Actor::Principal(me.clone())).await {
        Ok(list) => list,
        Err(e) => return failed(e),
    };
    let apps = apps
        .into_iter()
        .map(|(c, name)| AppRow {
            client_id: c.client_id,
            name,
            scopes: c.scopes.join(" "),
        })
        .collect();
    let status = if outcome.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut res = page(
        status,
        AccountPage {
            who: me.user.login_key(),
            csrf: &csrf,
            notice: outcome.notice,
            error: outcome.error,
            enrolling: outcome.enrolling,
            recovery: outcome.recovery,
            recovery_left,
            factors,
            sessions,
            apps,
        }
        .render(),
    );
    if fresh {
        set_cookie(&mut res, state, super::CSRF_COOKIE, &csrf, 60 * 60 * 24);
    }
    res
}

fn failed(e: Error) -> Response {
    let (status, text, _) = super::failure(e);
    super::message(status, "Your account", &text)
}

/// The form's message for a refused change.
fn refusal(e: &Error) -> Option<String> {
    match e {
        Error::InvalidField { reason, .. } => Some(reason.clone()),
        Error::Unauthenticated(_) => Some("The current password is not right.".into()),
        Error::NotFound(_) => Some("That is no longer there.".into()),
        Error::Forbidden => Some(
            "Not allowed from this session. Second factors can only be changed soon after \
             signing in: sign out, sign in again and retry."
                .into(),
        ),
        _ => None,
    }
}

/// A form with the CSRF token every post carries.
trait Posted: Default {
    fn csrf(&self) -> &str;
}

macro_rules! posted {
    ($($form:ty),*) => {$(
        impl Posted for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    )*};
}
posted!(PlainForm, IdForm, PasswordForm, ClientForm);

/// Runs a form post for the signed-in user: CSRF first, then `act`, then the
/// page with its outcome (a refusal shown on the page, anything else as an error
/// page).
async fn act<T, F, Fut>(
    state: AppState,
    headers: HeaderMap,
    form: Result<Form<T>, FormRejection>,
    act: F,
) -> Response
where
    T: Posted,
    F: FnOnce(AppState, Principal, T) -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, Error>>,
{
    let Ok(Form(form)) = form else {
        return bad_form();
    };
    if !csrf_ok(&state, &headers, form.csrf()) {
        return forbidden_csrf();
    }
    let Some(me) = session(&state, &headers).await else {
        return see_other("/login");
    };
    let outcome = match act(state.clone(), me.clone(), form).await {
        Ok(outcome) => outcome,
        Err(e) => match refusal(&e) {
            Some(text) => Outcome {
                error: Some(text),
                ..Outcome::default()
            },
            None => return failed(e),
        },
    };
    render(&state, &headers, &me, outcome).await
}

fn notice(text: &'static str) -> Outcome {
    Outcome {
        notice: Some(text),
        ..Outcome::default()
    }
}

/// The id a form names, or `NotFound(what)`.
fn form_id(text: &str, what: &'static str) -> Result<Uuid, Error> {
    Uuid::parse_str(text).map_err(|_| Error::NotFound(what))
}

/// What every account form answers besides its own page.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only
enum FormRefusals {
    /// No session cookie: to `/login`
    #[response(status = 303, headers(("Location" = String)))]
    ToLogin,
    /// An unreadable form, or the change was refused (the page, with the reason)
    #[response(status = 400, content_type = "text/html")]
    Refused(String),
    /// The CSRF token does not match the cookie
    #[response(status = 403, content_type = "text/html")]
    Forged(String),
}

/// `GET /account`.
#[utoipa::path(get, path = "/account", tag = "web", operation_id = "web_account",
    responses(
        (status = 200, description = "The signed-in user's page", body = String, content_type = "text/html"),
        (status = 303, description = "No session cookie: to `/login`", headers(("Location" = String)))))]
async fn show(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(me) = session(&state, &headers).await else {
        return see_other("/login");
    };
    render(&state, &headers, &me, Outcome::default()).await
}

/// Change the password (the other sessions end).
#[utoipa::path(post, path = "/account/password", tag = "web", operation_id = "web_account_password",
    request_body(content = PasswordForm, content_type = FORM),
    responses(
        (status = 200, description = "Changed (the page, with a notice)", body = String, content_type = "text/html"),
        FormRefusals))]
async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    act(state, headers, form, move |state, me, form| async move {
        let aegis = &state.aegis;
        aegis
            .change_password(&me, &form.current, &form.new, ip)
            .await?;
        Ok(notice("Password changed. Your other sessions have ended."))
    })
    .await
}

/// Start a TOTP enrollment: the secret and its QR code.
#[utoipa::path(post, path = "/account/totp", tag = "web", operation_id = "web_account_totp",
    request_body(content = PlainForm, content_type = FORM),
    responses(
        (status = 200, description = "The page with the secret and its QR code", body = String, content_type = "text/html"),
        FormRefusals))]
async fn begin_totp(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<PlainForm>, FormRejection>,
) -> Response {
    act(state, headers, form, |state, me, _| async move {
        let e = state.aegis.begin_totp(&me).await?;
        let qr = QrCode::new(e.uri.as_bytes())
            .map_err(|_| Error::internal("QR code for the TOTP URI"))?
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build();
        Ok(Outcome {
            enrolling: Some(Enrolling {
                id: e.id,
                secret: e.secret,
                qr_svg: qr,
            }),
            ..Outcome::default()
        })
    })
    .await
}

/// Confirm a TOTP enrollment with its first code.
#[utoipa::path(post, path = "/account/totp/confirm", tag = "web", operation_id = "web_account_totp_confirm",
    request_body(content = IdForm, content_type = FORM),
    responses(
        (status = 200, description = "Confirmed (the page, with a notice)", body = String, content_type = "text/html"),
        FormRefusals))]
async fn confirm_totp(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<IdForm>, FormRejection>,
) -> Response {
    act(state, headers, form, |state, me, form| async move {
        let id = form_id(&form.id, "authenticator")?;
        state.aegis.confirm_totp(&me, id, &form.code).await?;
        Ok(notice(
            "Authenticator app added. Sign-ins now ask for its code.",
        ))
    })
    .await
}

/// New recovery codes, shown once.
#[utoipa::path(post, path = "/account/recovery", tag = "web", operation_id = "web_account_recovery",
    request_body(content = PlainForm, content_type = FORM),
    responses(
        (status = 200, description = "The page with the new codes", body = String, content_type = "text/html"),
        FormRefusals))]
async fn new_recovery_codes(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<PlainForm>, FormRejection>,
) -> Response {
    act(state, headers, form, |state, me, _| async move {
        Ok(Outcome {
            recovery: state.aegis.new_recovery_codes(&me).await?,
            ..Outcome::default()
        })
    })
    .await
}

/// Remove a second factor.
#[utoipa::path(post, path = "/account/factors/remove", tag = "web", operation_id = "web_account_factor_remove",
    request_body(content = IdForm, content_type = FORM),
    responses(
        (status = 200, description = "Removed (the page, with a notice)", body = String, content_type = "text/html"),
        FormRefusals))]
async fn remove_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<IdForm>, FormRejection>,
) -> Response {
    act(state, headers, form, |state, me, form| async move {
        let id = form_id(&form.id, "authenticator")?;
        state.aegis.remove_own_factor(&me, id).await?;
        Ok(notice("Second factor removed."))
    })
    .await
}

/// End one of the user's sessions.
#[utoipa::path(post, path = "/account/sessions/end", tag = "web", operation_id = "web_account_session_end",
    request_body(content = IdForm, content_type = FORM),
    responses(
        (status = 200, description = "Ended (the page, with a notice)", body = String, content_type = "text/html"),
        FormRefusals))]
async fn end_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<IdForm>, FormRejection>,
) -> Response {
    act(state, headers, form, |state, me, form| async move {
        let id = form_id(&form.id, "session")?;
        let owner = Some(me.user.id);
        let actor = Actor::Principal(me);
        state.aegis.invalidate_session(&actor, id, owner).await?;
        Ok(notice("Session ended."))
    })
    .await
}

/// A form naming an application (an OpenID client id).
#[derive(Default, Deserialize, ToSchema)]
#[schema(as = AccountClientForm)]
#[serde(default)]
struct ClientForm {
    csrf: String,
    client_id: String,
}

/// Withdraw the consent given to an application and end its sessions.
#[utoipa::path(post, path = "/account/applications/revoke", tag = "web", operation_id = "web_account_app_revoke",
    request_body(content = ClientForm, content_type = FORM),
    responses(
        (status = 200, description = "Revoked (the page, with a notice)", body = String, content_type = "text/html"),
        FormRefusals))]
async fn revoke_consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<ClientForm>, FormRejection>,
) -> Response {
    act(state, headers, form, |state, me, form| async move {
        let actor = Actor::Principal(me);
        state.aegis.revoke_consent(&actor, &form.client_id).await?;
        Ok(notice("Access withdrawn."))
    })
    .await
}
