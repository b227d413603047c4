//! The browser's side of the provider: the authorization endpoint (which
//! hands over to the hosted sign-in and back), the consent page, the
//! form_post answer, and RP-initiated logout.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{RawForm, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aegis_core::service::oidc::{
    AuthorizeOutcome, AuthorizeParams, AuthorizeResponse, LogoutOutcome, LogoutRequest,
    ResponseMode,
};
use aegis_core::Error;

use super::OAuthErrorBody;
use crate::dialects::with_retry_after;
use crate::state::AppState;
use crate::web::{
    bad_form, csrf_ok, forbidden_csrf, form_page, message, page, see_other, session, set_cookie,
    FORM, SESSION_COOKIE,
};

const FORM_POST_JS: &str = include_str!("../../assets/form-post.js");

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize_get, authorize_post))
        .routes(routes!(resume))
        .routes(routes!(consent))
        .routes(routes!(logout_get, logout_post))
        .routes(routes!(form_post_js))
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    csrf: &'a str,
    resume: &'a str,
    client_name: &'a str,
    user: &'a str,
    scopes: Vec<(String, &'static str)>,
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    action: &'a str,
    params: &'a [(&'static str, String)],
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    csrf: &'a str,
    client_id: &'a str,
    post_logout_redirect_uri: &'a str,
    state: &'a str,
}

/// The authorization request (OpenID Connect Core §3.1.2.1); other
/// parameters are ignored.
#[derive(Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct AuthorizeDoc {
    client_id: String,
    redirect_uri: String,
    /// `code`.
    response_type: String,
    /// `openid profile email groups offline_access roles` (others ignored).
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    /// Base64url SHA-256 of the verifier; required of public clients.
    code_challenge: Option<String>,
    /// `S256` (`plain` is refused).
    code_challenge_method: Option<String>,
    /// `query` (default) or `form_post`.
    response_mode: Option<String>,
    /// `none`, `login`, `consent`, `select_account`.
    prompt: Option<String>,
    max_age: Option<String>,
    login_hint: Option<String>,
    id_token_hint: Option<String>,
    /// `urn:aegis:acr:mfa` demands a second factor.
    acr_values: Option<String>,
}

/// What the sign-in page or the consent page sends back.
#[derive(Default, Deserialize, ToSchema, IntoParams)]
#[serde(default)]
struct ResumeQuery {
    /// The sealed request.
    request: String,
}

/// The consent page's answer.
#[derive(Default, Deserialize, ToSchema)]
#[serde(default)]
struct ConsentForm {
    csrf: String,
    resume: String,
    /// `allow` or `deny`.
    decision: String,
}

/// An RP-initiated logout request; `csrf` and `confirm` come from the
/// confirmation page.
#[derive(Default, Deserialize, ToSchema, IntoParams)]
#[serde(default)]
struct LogoutForm {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
    csrf: Option<String>,
    confirm: Option<String>,
}

/// The parameters of a query or form body; a parameter given twice is an
/// unreadable request (RFC 6749 §3.1).
fn read_params<T: DeserializeOwned>(raw: &str) -> Option<T> {
    serde_urlencoded::from_str(raw).ok()
}

fn core_failure(e: Error) -> Response {
    match e {
        Error::InvalidField { reason, .. } => {
            message(StatusCode::BAD_REQUEST, "Cannot continue", &reason)
        }
        Error::Unavailable { retry_after } => with_retry_after(
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Busy",
                "The service is busy. Try again in a moment.",
            ),
            Some(retry_after),
        ),
        e => {
            tracing::error!(error = %e, "authorization failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong. Try again later.",
            )
        }
    }
}

/// What the browser gets for a decision.
async fn outcome(
    state: &AppState,
    headers: &HeaderMap,
    result: aegis_core::Result<AuthorizeOutcome>,
) -> Response {
    match result {
        Err(e) => core_failure(e),
        Ok(AuthorizeOutcome::SignIn { resume, login_hint }) => {
            let query = serde_urlencoded::to_string([
                ("resume", resume.as_str()),
                ("identifier", login_hint.as_deref().unwrap_or("")),
            ])
            .unwrap_or_default();
            see_other(&format!("/login?{query}"))
        }
        Ok(AuthorizeOutcome::Consent {
            client_name,
            scopes,
            resume,
        }) => {
            let user = session(state, headers)
                .await
                .map(|p| p.user.login_key().to_owned())
                .unwrap_or_default();
            let scopes = scopes
                .into_iter()
                .map(|s| {
                    let text = describe(&s);
                    (s, text)
                })
                .collect();
            form_page(state, headers, StatusCode::OK, |csrf| {
                ConsentPage {
                    csrf,
                    resume: &resume,
                    client_name: &client_name,
                    user: &user,
                    scopes,
                }
                .render()
            })
        }
        Ok(AuthorizeOutcome::Redirect(answer)) => to_client(&answer),
    }
}

/// What a scope lets the application read, for the consent page.
fn describe(scope: &str) -> &'static str {
    match scope {
        "openid" => "who you are (your account id)",
        "profile" => "your username and name",
        "email" => "your email address",
        "groups" => "the groups you belong to",
        "roles" => "your role",
        "offline_access" => "access while you are away",
        _ => "other access",
    }
}

/// The answer at the client's redirect URI: in its query (303), or as an
/// auto-submitted form (form_post).
fn to_client(answer: &AuthorizeResponse) -> Response {
    match answer.mode {
        ResponseMode::Query => {
            let query = serde_urlencoded::to_string(&answer.params).unwrap_or_default();
            let sep = if answer.redirect_uri.contains('?') {
                '&'
            } else {
                '?'
            };
            see_other(&format!("{}{sep}{query}", answer.redirect_uri))
        }
        ResponseMode::FormPost => {
            let mut res = page(
                StatusCode::OK,
                FormPostPage {
                    action: &answer.redirect_uri,
                    params: &answer.params,
                }
                .render(),
            );
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
    }
}

/// `GET /oauth2/authorize`.
#[utoipa::path(get, path = "/oauth2/authorize", tag = "oidc", operation_id = "oidc_authorize",
    params(AuthorizeDoc),
    responses(
        (status = 200, description = "The consent page, or a form_post answer", body = String, content_type = "text/html"),
        (status = 303, description = "To the sign-in page, or back to the client with `code` (or `error`), `state` and `iss`", headers(("Location" = String))),
        (status = 400, description = "An unknown client or an unregistered redirect URI (never redirected), or an unreadable request", body = String, content_type = "text/html"),
        (status = 404, description = "The OpenID provider is off", body = OAuthErrorBody)))]
async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    authorize(&state, &headers, query.as_deref().unwrap_or("")).await
}

/// `POST /oauth2/authorize` (the same request, form-encoded).
#[utoipa::path(post, path = "/oauth2/authorize", tag = "oidc", operation_id = "oidc_authorize_post",
    request_body(content = AuthorizeDoc, content_type = FORM),
    responses(
        (status = 200, description = "The consent page, or a form_post answer", body = String, content_type = "text/html"),
        (status = 303, description = "To the sign-in page, or back to the client", headers(("Location" = String))),
        (status = 400, description = "An unknown client or an unregistered redirect URI, or an unreadable request", body = String, content_type = "text/html"),
        (status = 404, description = "The OpenID provider is off", body = OAuthErrorBody)))]
async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<RawForm, axum::extract::rejection::RawFormRejection>,
) -> Response {
    let Ok(RawForm(body)) = form else {
        return bad_form();
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return bad_form();
    };
    authorize(&state, &headers, text).await
}

async fn authorize(state: &AppState, headers: &HeaderMap, raw: &str) -> Response {
    let Some(params) = read_params::<AuthorizeParams>(raw) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Cannot sign in",
            "The authorization request could not be read (a parameter given twice, or not text).",
        );
    };
    let browser = session(state, headers).await;
    let result = state.aegis.authorize(&params, browser.as_ref()).await;
    outcome(state, headers, result).await
}

/// `GET /oauth2/authorize/resume`: back from the sign-in page.
#[utoipa::path(get, path = "/oauth2/authorize/resume", tag = "oidc", operation_id = "oidc_authorize_resume",
    params(ResumeQuery),
    responses(
        (status = 200, description = "The consent page, or a form_post answer", body = String, content_type = "text/html"),
        (status = 303, description = "Back to the client (or to the sign-in page)", headers(("Location" = String))),
        (status = 400, description = "An expired or altered request", body = String, content_type = "text/html"),
        (status = 404, description = "The OpenID provider is off", body = OAuthErrorBody)))]
async fn resume(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(q) = read_params::<ResumeQuery>(query.as_deref().unwrap_or("")) else {
        return bad_form();
    };
    let browser = session(&state, &headers).await;
    let result = state
        .aegis
        .authorize_resume(&q.request, browser.as_ref())
        .await;
    outcome(&state, &headers, result).await
}

/// `POST /oauth2/consent`: the consent page's answer.
#[utoipa::path(post, path = "/oauth2/consent", tag = "oidc", operation_id = "oidc_consent",
    request_body(content = ConsentForm, content_type = FORM),
    responses(
        (status = 200, description = "A form_post answer", body = String, content_type = "text/html"),
        (status = 303, description = "Back to the client with a code, or `access_denied`", headers(("Location" = String))),
        (status = 400, description = "An unreadable form, or an expired or altered request", body = String, content_type = "text/html"),
        (status = 403, description = "The CSRF token does not match the cookie", body = String, content_type = "text/html"),
        (status = 404, description = "The OpenID provider is off", body = OAuthErrorBody)))]
async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<ConsentForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return bad_form();
    };
    if !csrf_ok(&state, &headers, &form.csrf) {
        return forbidden_csrf();
    }
    let allow = match form.decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => return bad_form(),
    };
    let browser = session(&state, &headers).await;
    let result = state
        .aegis
        .authorize_consent(&form.resume, browser.as_ref(), allow)
        .await;
    outcome(&state, &headers, result).await
}

/// `GET /oauth2/logout`: RP-initiated logout.
#[utoipa::path(get, path = "/oauth2/logout", tag = "oidc", operation_id = "oidc_logout",
    params(LogoutForm),
    responses(
        (status = 200, description = "The confirmation page (no valid `id_token_hint`), or signed out", body = String, content_type = "text/html"),
        (status = 303, description = "Signed out; to the registered `post_logout_redirect_uri` with `state`", headers(("Location" = String))),
        (status = 400, description = "An unregistered `post_logout_redirect_uri`, a bad hint, or an unreadable request", body = String, content_type = "text/html"),
        (status = 404, description = "The OpenID provider is off", body = OAuthErrorBody)))]
async fn logout_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(form) = read_params::<LogoutForm>(query.as_deref().unwrap_or("")) else {
        return bad_form();
    };
    logout(&state, &headers, form, false).await
}

/// `POST /oauth2/logout`: the same request form-encoded, or the confirmation
/// page's answer (`csrf`, `confirm`).
#[utoipa::path(post, path = "/oauth2/logout", tag = "oidc", operation_id = "oidc_logout_post",
    request_body(content = LogoutForm, content_type = FORM),
    responses(
        (status = 200, description = "The confirmation page, or signed out", body = String, content_type = "text/html"),
        (status = 303, description = "Signed out; to the registered `post_logout_redirect_uri`", headers(("Location" = String))),
        (status = 400, description = "An unregistered `post_logout_redirect_uri`, a bad hint, or an unreadable form", body = String, content_type = "text/html"),
        (status = 403, description = "A confirmation whose CSRF token does not match the cookie", body = String, content_type = "text/html"),
        (status = 404, description = "The OpenID provider is off", body = OAuthErrorBody)))]
async fn logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return bad_form();
    };
    let confirmed = form.confirm.is_some();
    if confirmed && !csrf_ok(&state, &headers, form.csrf.as_deref().unwrap_or("")) {
        return forbidden_csrf();
    }
    logout(&state, &headers, form, confirmed).await
}

async fn logout(
    state: &AppState,
    headers: &HeaderMap,
    form: LogoutForm,
    confirmed: bool,
) -> Response {
    let req = LogoutRequest {
        id_token_hint: form.id_token_hint,
        post_logout_redirect_uri: form.post_logout_redirect_uri,
        state: form.state,
        client_id: form.client_id,
    };
    let browser = session(state, headers).await;
    let result = state
        .aegis
        .end_session(&req, browser.as_ref(), confirmed)
        .await;
    let mut res = match result {
        Err(e) => return core_failure(e),
        Ok(LogoutOutcome::Confirm { client_id }) => {
            return form_page(state, headers, StatusCode::OK, |csrf| {
                LogoutPage {
                    csrf,
                    client_id: client_id.as_deref().unwrap_or(""),
                    post_logout_redirect_uri: req.post_logout_redirect_uri.as_deref().unwrap_or(""),
                    state: req.state.as_deref().unwrap_or(""),
                }
                .render()
            });
        }
        Ok(LogoutOutcome::Redirect(to)) => see_other(&to),
        Ok(LogoutOutcome::SignedOut) => {
            message(StatusCode::OK, "Signed out", "You are signed out.")
        }
    };
    set_cookie(&mut res, state, SESSION_COOKIE, "", 0);
    res
}

/// The form_post answer's script (submits the form).
#[utoipa::path(get, path = "/web/form-post.js", tag = "web", operation_id = "web_form_post_js",
    responses((status = 200, description = "JavaScript", body = String, content_type = "text/javascript")))]
async fn form_post_js() -> Response {
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
        FORM_POST_JS,
    )
        .into_response()
}
