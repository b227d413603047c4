//! The hosted pages: sign-in (password, then the second factor when the account
//! has one, then back to a registered application with a one-time login code)
//! and the account page (`account.rs`). Server-rendered with askama, plain forms,
//! no script.
//!
//! - Every form carries a CSRF token that must equal the `aegis_csrf` cookie
//!   (double submit, compared in constant time); cookies are `HttpOnly`,
//!   `SameSite=Lax` and, unless `web.secure_cookies` is off, `Secure`.
//! - A `redirect_uri` must equal one of `web.redirect_uris` byte for byte;
//!   anything else is refused with a page, never followed.
//! - The sign-in shares the core's login: the same throttling, lockout and
//!   answers for unknown users, wrong passwords and inactive accounts.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Router};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aegis_core::secret::{ct_eq, random_token};
use aegis_core::service::{Login, LoginRequest, LoginStep};
use aegis_core::{Credential, Error, Principal};

mod account;
mod passkeys;

use crate::dialects::with_retry_after;
use crate::extract::ClientIp;
use crate::state::AppState;

/// Cookie names. With `Secure` cookies they carry the `__Host-` prefix, so no
/// other host (a sibling subdomain) can set them.
pub(crate) const CSRF_COOKIE: &str = "aegis_csrf";
pub(crate) const SESSION_COOKIE: &str = "aegis_session";

pub(crate) fn cookie_name(state: &AppState, name: &str) -> String {
    if state.config.web.secure_cookies {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}
/// Longest `state` carried back to an application.
const MAX_STATE: usize = 1024;
/// Longest sealed authorization request carried through the sign-in.
const MAX_RESUME: usize = 16 * 1024;
const CSS: &str = include_str!("../../assets/aegis.css");
const PASSKEY_JS: &str = include_str!("../../assets/passkey.js");

/// The pages' routes.
pub fn router() -> Router<AppState> {
    documented().split_for_parts().0
}

/// The pages' part of the OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    documented().split_for_parts().1
}

fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login_page, login_submit))
        .routes(routes!(otp_submit))
        .routes(routes!(logout))
        .routes(routes!(css))
        .routes(routes!(passkey_js))
        .merge(account::router())
        .merge(passkeys::router())
}

/// The form posts' content type.
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    redirect_uri: &'a str,
    state: &'a str,
    resume: &'a str,
    identifier: &'a str,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "otp.html")]
struct OtpPage<'a> {
    csrf: &'a str,
    ticket: &'a str,
    redirect_uri: &'a str,
    state: &'a str,
    resume: &'a str,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
}

/// Where to go after signing in, as the query or the form gives it.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Target {
    redirect_uri: String,
    state: String,
    /// A sealed OpenID Connect authorization request to resume after the
    /// sign-in (the core opens and checks it).
    resume: String,
    /// Prefills the identifier (an OpenID `login_hint`).
    identifier: String,
}

/// The password step's form.
#[derive(Default, Deserialize, ToSchema)]
#[serde(default)]
struct LoginForm {
    csrf: String,
    identifier: String,
    password: String,
    redirect_uri: String,
    state: String,
    resume: String,
}

/// The second-factor step's form; `ticket` comes from the password step.
#[derive(Default, Deserialize, ToSchema)]
#[serde(default)]
struct OtpForm {
    csrf: String,
    ticket: String,
    otp: String,
    redirect_uri: String,
    state: String,
    resume: String,
}

/// A form with only the CSRF token.
#[derive(Default, Deserialize, ToSchema)]
#[serde(default)]
struct CsrfForm {
    csrf: String,
}

/// An HTML page with the headers every page carries.
pub(crate) fn page(status: StatusCode, html: askama::Result<String>) -> Response {
    let html = match html {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

pub(crate) fn message(status: StatusCode, title: &str, text: &str) -> Response {
    page(
        status,
        MessagePage {
            title,
            message: text,
        }
        .render(),
    )
}

/// A cookie's value from the request.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

pub(crate) fn set_cookie(
    res: &mut Response,
    state: &AppState,
    name: &str,
    value: &str,
    max_age: i64,
) {
    let name = cookie_name(state, name);
    let secure = if state.config.web.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    if let Ok(v) = HeaderValue::from_str(&text) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The request's CSRF token, or a new one (then set as a cookie on the page).
pub(crate) fn csrf_token(state: &AppState, headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, &cookie_name(state, CSRF_COOKIE)) {
        Some(t)
            if t.len() <= 64
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) =>
        {
            (t.to_owned(), false)
        }
        _ => (random_token(), true),
    }
}

/// A page holding a form: rendered with the request's CSRF token (a new one
/// is set as the cookie when the request had none).
pub(crate) fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    render: impl FnOnce(&str) -> askama::Result<String>,
) -> Response {
    let (csrf, fresh) = csrf_token(state, headers);
    let mut res = page(status, render(&csrf));
    if fresh {
        set_cookie(&mut res, state, CSRF_COOKIE, &csrf, 60 * 60 * 24);
    }
    res
}

pub(crate) fn csrf_ok(state: &AppState, headers: &HeaderMap, sent: &str) -> bool {
    cookie(headers, &cookie_name(state, CSRF_COOKIE))
        .is_some_and(|c| !sent.is_empty() && ct_eq(c.as_bytes(), sent.as_bytes()))
}

/// Checks a requested return address: empty (stay here) or exactly registered;
/// the refusal page otherwise.
fn refuse_target(state: &AppState, target: &Target) -> Option<Response> {
    if target.state.len() > MAX_STATE || target.resume.len() > MAX_RESUME {
        return Some(message(
            StatusCode::BAD_REQUEST,
            "Cannot sign in",
            "The state parameter is too long.",
        ));
    }
    if target.redirect_uri.is_empty()
        || state
            .config
            .web
            .redirect_uris
            .iter()
            .any(|u| u == &target.redirect_uri)
    {
        return None;
    }
    Some(message(
        StatusCode::BAD_REQUEST,
        "Cannot sign in",
        "This application is not registered to use this sign-in page.",
    ))
}

pub(crate) fn forbidden_csrf() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Form expired",
        "The form was not sent from this site or has expired. Go back, reload the page and try again.",
    )
}

pub(crate) fn bad_form() -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "Bad request",
        "The form could not be read.",
    )
}

pub(crate) fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => bad_form(),
    }
}

/// The pages' style sheet.
#[utoipa::path(get, path = "/web/aegis.css", tag = "web", operation_id = "web_css",
    responses((status = 200, description = "CSS", body = String, content_type = "text/css")))]
async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=3600"),
            ),
        ],
        CSS,
    )
        .into_response()
}

/// The passkey ceremonies' script.
#[utoipa::path(get, path = "/web/passkey.js", tag = "web", operation_id = "web_passkey_js",
    responses((status = 200, description = "JavaScript", body = String, content_type = "text/javascript")))]
async fn passkey_js() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=3600"),
            ),
        ],
        PASSKEY_JS,
    )
        .into_response()
}

/// `GET /login[?redirect_uri=…&state=…]`: the sign-in form.
#[utoipa::path(get, path = "/login", tag = "web", operation_id = "web_login_page",
    params(
        ("redirect_uri" = Option<String>, Query, description = "Where to return with a login code: one of `web.redirect_uris`, byte for byte"),
        ("state" = Option<String>, Query, description = "Carried back to the application (≤ 1024 bytes)"),
        ("resume" = Option<String>, Query, description = "A sealed OpenID Connect authorization request, resumed after the sign-in"),
        ("identifier" = Option<String>, Query, description = "Prefills the identifier")),
    responses(
        (status = 200, description = "The form; sets the CSRF cookie when there is none", body = String, content_type = "text/html"),
        (status = 400, description = "An unregistered `redirect_uri`, a `state` too long, or an unreadable query", body = String, content_type = "text/html")))]
async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<Target>, QueryRejection>,
) -> Response {
    let Ok(Query(target)) = query else {
        return bad_form();
    };
    if let Some(res) = refuse_target(&state, &target) {
        return res;
    }
    form_page(&state, &headers, StatusCode::OK, |csrf| {
        LoginPage {
            csrf,
            redirect_uri: &target.redirect_uri,
            state: &target.state,
            resume: &target.resume,
            identifier: &target.identifier,
            error: None,
        }
        .render()
    })
}

/// What a failed sign-in shows: the status and the sentence.
fn failure(e: Error) -> (StatusCode, String, Option<u64>) {
    match e {
        Error::Unauthenticated(_) | Error::InvalidField { .. } => (
            StatusCode::UNAUTHORIZED,
            "Invalid username, password or code.".into(),
            None,
        ),
        Error::Locked { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed attempts. Try again in {retry_after} seconds."),
            Some(retry_after),
        ),
        Error::Forbidden => (
            StatusCode::FORBIDDEN,
            "This account cannot do that here.".into(),
            None,
        ),
        Error::PasswordExpired => (
            StatusCode::FORBIDDEN,
            "Your password has expired. Ask an administrator to reset it.".into(),
            None,
        ),
        Error::Unavailable { retry_after } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is busy. Try again in a moment.".into(),
            Some(retry_after),
        ),
        e => {
            tracing::error!(error = %e, "hosted sign-in failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong. Try again later.".into(),
                None,
            )
        }
    }
}

/// The fields every sign-in form post carries.
trait SignInForm {
    fn csrf(&self) -> &str;
    /// Where to go after signing in (taken out of the form).
    fn take_target(&mut self) -> Target;
}

macro_rules! sign_in_form {
    ($($form:ty),*) => {$(
        impl SignInForm for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
            fn take_target(&mut self) -> Target {
                Target {
                    redirect_uri: std::mem::take(&mut self.redirect_uri),
                    state: std::mem::take(&mut self.state),
                    resume: std::mem::take(&mut self.resume),
                    identifier: String::new(),
                }
            }
        }
    )*};
}
sign_in_form!(LoginForm, OtpForm);

/// A sign-in form post's checks: readable, its CSRF token the cookie's, and a
/// registered return address; the form and where to go after, or the refusal.
fn checked_sign_in<T: SignInForm>(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<T>, FormRejection>,
) -> Result<(T, Target), Box<Response>> {
    let Ok(Form(mut form)) = form else {
        return Err(Box::new(bad_form()));
    };
    if !csrf_ok(state, headers, form.csrf()) {
        return Err(Box::new(forbidden_csrf()));
    }
    let target = form.take_target();
    if let Some(res) = refuse_target(state, &target) {
        return Err(Box::new(res));
    }
    Ok((form, target))
}

/// The identifier a sign-in looks up. No account's holds a NUL (the core refuses
/// control characters in usernames and emails), so one with a NUL is sent as
/// empty: the core's answer for an identifier that names no account, at the
/// same cost, without a lookup PostgreSQL cannot make.
fn login_identifier(identifier: &str) -> String {
    if identifier.contains('\0') {
        String::new()
    } else {
        identifier.to_owned()
    }
}

/// `POST /login`: the password step.
#[utoipa::path(post, path = "/login", tag = "web", operation_id = "web_login",
    request_body(content = LoginForm, content_type = FORM),
    responses(
        (status = 200, description = "The second-factor form", body = String, content_type = "text/html"),
        (status = 303, description = "Signed in: back to `redirect_uri` with `code` and `state`, or to `/account`; sets the session cookie",
            headers(("Location" = String))),
        (status = 400, description = "An unreadable form or an unregistered `redirect_uri`", body = String, content_type = "text/html"),
        (status = 401, description = "Wrong username or password (the form again)", body = String, content_type = "text/html"),
        (status = 403, description = "The CSRF token does not match the cookie, or the account may not sign in here", body = String, content_type = "text/html"),
        (status = 429, description = "Throttled", body = String, content_type = "text/html", headers(("Retry-After" = u64))),
        (status = 503, description = "The password hashing queue is full", body = String, content_type = "text/html", headers(("Retry-After" = u64)))))]
async fn login_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let (form, target) = match checked_sign_in(&state, &headers, form) {
        Ok(checked) => checked,
        Err(res) => return *res,
    };
    let step = state
        .aegis
        .login_first_step(LoginRequest {
            identifier: login_identifier(&form.identifier),
            password: form.password,
            otp: None,
            ip,
        })
        .await;
    match step {
        Ok(LoginStep::Done(login)) => signed_in(&state, login, &target).await,
        Ok(LoginStep::SecondFactor { ticket }) => page(
            StatusCode::OK,
            OtpPage {
                csrf: &form.csrf,
                ticket: &ticket,
                redirect_uri: &target.redirect_uri,
                state: &target.state,
                resume: &target.resume,
                error: None,
            }
            .render(),
        ),
        Err(e) => {
            let (status, text, retry_after) = failure(e);
            let res = page(
                status,
                LoginPage {
                    csrf: &form.csrf,
                    redirect_uri: &target.redirect_uri,
                    state: &target.state,
                    resume: &target.resume,
                    identifier: &form.identifier,
                    error: Some(text),
                }
                .render(),
            );
            with_retry_after(res, retry_after)
        }
    }
}

/// `POST /login/otp`: the second-factor step.
#[utoipa::path(post, path = "/login/otp", tag = "web", operation_id = "web_login_otp",
    request_body(content = OtpForm, content_type = FORM),
    responses(
        (status = 303, description = "Signed in: back to `redirect_uri` with `code` and `state`, or to `/account`; sets the session cookie",
            headers(("Location" = String))),
        (status = 400, description = "An unreadable form or an unregistered `redirect_uri`", body = String, content_type = "text/html"),
        (status = 401, description = "A wrong code or a spent ticket (the form again)", body = String, content_type = "text/html"),
        (status = 403, description = "The CSRF token does not match the cookie", body = String, content_type = "text/html"),
        (status = 429, description = "Throttled", body = String, content_type = "text/html", headers(("Retry-After" = u64)))))]
async fn otp_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<OtpForm>, FormRejection>,
) -> Response {
    let (form, target) = match checked_sign_in(&state, &headers, form) {
        Ok(checked) => checked,
        Err(res) => return *res,
    };
    match state
        .aegis
        .login_second_step(&form.ticket, &form.otp, ip)
        .await
    {
        Ok(login) => signed_in(&state, login, &target).await,
        Err(e) => {
            let (status, text, retry_after) = failure(e);
            let res = page(
                status,
                OtpPage {
                    csrf: &form.csrf,
                    ticket: &form.ticket,
                    redirect_uri: &target.redirect_uri,
                    state: &target.state,
                    resume: &target.resume,
                    error: Some(text),
                }
                .render(),
            );
            with_retry_after(res, retry_after)
        }
    }
}

/// Signed in: the session cookie, then back to the application with a login
/// code, or on to the account page.
async fn signed_in(state: &AppState, login: Login, target: &Target) -> Response {
    landing(state, login, target, see_other).await
}

/// Signed in: the session cookie and a fresh CSRF token, on a response that
/// `answer` makes from where the browser goes next — back to the application
/// with a login code, or on to the account page.
async fn landing(
    state: &AppState,
    login: Login,
    target: &Target,
    answer: fn(&str) -> Response,
) -> Response {
    let max_age = (login.tokens.access_expires_at - state.aegis.now())
        .num_seconds()
        .max(0);
    let mut res = if !target.resume.is_empty() {
        let query =
            serde_urlencoded::to_string([("request", target.resume.as_str())]).unwrap_or_default();
        answer(&format!("/oauth2/authorize/resume?{query}"))
    } else if target.redirect_uri.is_empty() {
        answer("/account")
    } else {
        match state.aegis.issue_login_code(&login).await {
            Ok(code) => {
                let query = serde_urlencoded::to_string([
                    ("code", code.as_str()),
                    ("state", target.state.as_str()),
                ])
                .unwrap_or_default();
                let sep = if target.redirect_uri.contains('?') {
                    '&'
                } else {
                    '?'
                };
                answer(&format!("{}{sep}{query}", target.redirect_uri))
            }
            Err(e) => {
                let (status, text, _) = failure(e);
                return message(status, "Cannot sign in", &text);
            }
        }
    };
    set_cookie(
        &mut res,
        state,
        SESSION_COOKIE,
        &login.tokens.access_token,
        max_age,
    );
    // A new CSRF token for the signed-in session (one planted before sign-in
    // is worth nothing after it).
    set_cookie(&mut res, state, CSRF_COOKIE, &random_token(), 60 * 60 * 24);
    res
}

/// The signed-in user of the session cookie.
pub(crate) async fn session(state: &AppState, headers: &HeaderMap) -> Option<Principal> {
    let token = cookie(headers, &cookie_name(state, SESSION_COOKIE))?;
    // A session's token only: an API token set as the cookie is not a sign-in.
    let principal = state.aegis.authenticate(token).await.ok()?;
    matches!(principal.credential, Credential::Session { .. }).then_some(principal)
}

/// `POST /logout`: ends the session of the cookie and forgets the cookie.
#[utoipa::path(post, path = "/logout", tag = "web", operation_id = "web_logout",
    request_body(content = CsrfForm, content_type = FORM),
    responses(
        (status = 303, description = "Signed out; to `/login`", headers(("Location" = String))),
        (status = 400, description = "An unreadable form", body = String, content_type = "text/html"),
        (status = 403, description = "The CSRF token does not match the cookie", body = String, content_type = "text/html")))]
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return bad_form();
    };
    if !csrf_ok(&state, &headers, &form.csrf) {
        return forbidden_csrf();
    }
    if let Some(principal) = session(&state, &headers).await {
        if let Err(e) = state.aegis.logout(&principal).await {
            tracing::warn!(error = %e, "hosted sign-out failed");
        }
    }
    let mut res = see_other("/login");
    set_cookie(&mut res, &state, SESSION_COOKIE, "", 0);
    res
}
