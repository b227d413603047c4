//! `/v2/client/*` (client token): token check and password change (spec §5.2,
//! §7.1). The acting user comes from the body's `token`, never the Bearer.

use aegis_core::{AuthFailure, Error};
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::Failure;
use super::sessions::{body_token, token_object};
use super::users::finish;
use super::{run, Access, Call};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token_check))
        .routes(routes!(password_change))
        .routes(routes!(jwks))
}

/// Describe a token — spec §7.1.
#[utoipa::path(post, path = "/v2/client/token/check", tag = "pangea", responses((status = 200, description = "Token found")))]
async fn token_check(State(s): State<AppState>, req: Request) -> Response {
    run(s, req, Access::Client, |mut call: Call| async move {
        let token = call.body.req_string("token");
        let call = finish(call)?;
        let info = call
            .state
            .aegis
            .inspect_token(&token.unwrap_or_default())
            .await
            .map_err(body_token)?;
        Ok(("Token is valid".into(), token_object(&info, None)))
    })
    .await
}

/// Change one's password with the old one — spec §5.2.
#[utoipa::path(post, path = "/v2/client/password/change", tag = "pangea", responses((status = 200, description = "Password changed")))]
async fn password_change(State(s): State<AppState>, req: Request) -> Response {
    run(s, req, Access::Client, |mut call: Call| async move {
        let token = call.body.req_string("token");
        let old = call.body.req_string("old_password");
        let new = call.body.req_string("new_password");
        let call = finish(call)?;
        let aegis = &call.state.aegis;
        let owner = aegis
            .authenticate(&token.unwrap_or_default())
            .await
            .map_err(body_token)?;
        aegis
            .change_password(&owner, &old.unwrap_or_default(), &new.unwrap_or_default())
            .await
            .map_err(|e| match e {
                Error::InvalidField { reason, .. } => {
                    Failure::field("BadFormat", "/new_password", reason)
                }
                Error::Forbidden => body_token(Error::Unauthenticated(AuthFailure::Malformed)),
                e => e.into(),
            })?;
        Ok(("Password changed".into(), json!({})))
    })
    .await
}

/// The public keys that verify aegis access tokens — spec §7.5 `client/jwks`
/// (the same set as `/.well-known/jwks.json`).
#[utoipa::path(post, path = "/v2/client/jwks", tag = "pangea", responses((status = 200, description = "JWK set")))]
async fn jwks(State(s): State<AppState>, req: Request) -> Response {
    run(s, req, Access::Client, |call: Call| async move {
        let call = finish(call)?;
        Ok(("JWKS retrieved".into(), call.state.aegis.jwks()))
    })
    .await
}
