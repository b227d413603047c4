//! `/v2/user/*`: users, profiles, password expiry, authenticators and a user's
//! groups (spec §4).

use aegis_core::authz::Capability;
use aegis_core::service::{AccountChange, CreateUserRequest};
use std::collections::BTreeMap;

use aegis_core::Role;
use axum::extract::{Request, State};
use axum::response::Response;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::body::{profile_edits_schema, profile_schema, request_schema, string_map};
use super::envelope::{
    BadRequest, Conflict, Empty, Envelope, Failure, Forbidden, NotFound, TooLarge, Unauthorized,
    Unavailable,
};
use super::groups::{group_object, GroupObject};
use super::listing::{parse_user_query, UserFilter, UserOrderBy};
use super::paging::OrderName;
use super::{
    email_pattern, ids, run, user_info, username_pattern, Access, AuthenticatorInfo, Call,
    Selector, UserInfo,
};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(user_create))
        .routes(routes!(user_delete))
        .routes(routes!(user_list))
        .routes(routes!(profile_get))
        .routes(routes!(profile_update))
        .routes(routes!(user_update))
        .routes(routes!(password_expire))
        .routes(routes!(authenticators_list))
        .routes(routes!(authenticators_delete))
        .routes(routes!(group_assign))
        .routes(routes!(group_remove))
        .routes(routes!(group_list))
}

type Outcome = Result<(String, Value), Failure>;

// ---- Request and result schemas (spec §4) ----------------------------------

request_schema! {
    /// `user/create` (spec §4.1).
    UserCreateBody as PangeaUserCreateRequest {
        /// Pattern of spec §3.3; the core's email rules apply too.
        #[schema(pattern = "^[0-9a-zA-Z+._-]+@[0-9a-zA-Z.-]+$")]
        email: String,
        /// String values only (spec §3.7 limits).
        #[schema(schema_with = profile_schema)]
        profile: BTreeMap<String, String>,
        /// Defaults to the email.
        #[schema(pattern = "^[0-9a-zA-Z+._@-]{2,320}$")]
        username: Option<String>,
        /// aegis extension: a password (core policy) and its `password` authenticator.
        password: Option<String>,
    }
}

request_schema! {
    /// The user an endpoint acts on (spec §3.3): at least one of `id`, `email`
    /// and `username` (else `FieldRequired` at `/id`); all given must name the
    /// same user.
    SelectorBody as PangeaUserSelector {
        /// `pui_…`; another well-formed value names no user.
        #[schema(pattern = "^[a-zA-Z0-9 '.:/_-]+$")]
        id: Option<String>,
        #[schema(pattern = "^[0-9a-zA-Z+._-]+@[0-9a-zA-Z.-]+$")]
        email: Option<String>,
        #[schema(pattern = "^[0-9a-zA-Z+._@-]{2,320}$")]
        username: Option<String>,
    }
}

request_schema! {
    /// `user/list` (spec §4.3).
    UserListBody as PangeaUserListRequest {
        filter: Option<UserFilter>,
        /// The `last` of the previous page (bound to the same filter and order).
        last: Option<String>,
        order: Option<OrderName>,
        order_by: Option<UserOrderBy>,
        /// Default 20; more than 1000 is 1000.
        #[schema(minimum = 1)]
        size: Option<i64>,
    }
}

request_schema! {
    /// `user/profile/update` (spec §4.5): selectors and the edits to merge.
    ProfileUpdateBody as PangeaUserProfileUpdateRequest {
        #[schema(pattern = "^[a-zA-Z0-9 '.:/_-]+$")]
        id: Option<String>,
        #[schema(pattern = "^[0-9a-zA-Z+._-]+@[0-9a-zA-Z.-]+$")]
        email: Option<String>,
        #[schema(pattern = "^[0-9a-zA-Z+._@-]{2,320}$")]
        username: Option<String>,
        /// A string sets a key, `null` deletes it.
        #[schema(schema_with = profile_edits_schema)]
        profile: BTreeMap<String, Option<String>>,
    }
}

request_schema! {
    /// `user/update` (spec §4.6): selectors (they do not rename) and the changes.
    UserUpdateBody as PangeaUserUpdateRequest {
        #[schema(pattern = "^[a-zA-Z0-9 '.:/_-]+$")]
        id: Option<String>,
        #[schema(pattern = "^[0-9a-zA-Z+._-]+@[0-9a-zA-Z.-]+$")]
        email: Option<String>,
        #[schema(pattern = "^[0-9a-zA-Z+._@-]{2,320}$")]
        username: Option<String>,
        /// `true` ends every session at once and refuses logins.
        disabled: Option<bool>,
        /// `true` clears the lock-out and the failure counters.
        unlock: Option<bool>,
        /// E.164.
        #[schema(pattern = "^\\+[0-9]{2,15}$")]
        phone: Option<String>,
    }
}

request_schema! {
    /// `user/authenticators/delete` (spec §4.9).
    AuthenticatorDeleteBody as PangeaUserAuthenticatorDeleteRequest {
        #[schema(pattern = "^[a-zA-Z0-9 '.:/_-]+$")]
        id: Option<String>,
        #[schema(pattern = "^[0-9a-zA-Z+._-]+@[0-9a-zA-Z.-]+$")]
        email: Option<String>,
        #[schema(pattern = "^[0-9a-zA-Z+._@-]{2,320}$")]
        username: Option<String>,
        #[schema(pattern = "^pau_[a-z2-7]{32}$")]
        authenticator_id: String,
    }
}

request_schema! {
    /// `user/group/assign` (spec §4.10): all groups or none.
    GroupAssignBody as PangeaUserGroupAssignRequest {
        #[schema(pattern = "^pui_[a-z2-7]{32}$")]
        id: String,
        #[schema(min_items = 1, max_items = 32)]
        group_ids: Vec<ids::GroupId>,
    }
}

request_schema! {
    /// `user/group/remove` (spec §4.10).
    GroupRemoveBody as PangeaUserGroupRemoveRequest {
        #[schema(pattern = "^pui_[a-z2-7]{32}$")]
        id: String,
        #[schema(pattern = "^pgi_[a-z2-7]{32}$")]
        group_id: String,
    }
}

request_schema! {
    /// `user/group/list` (spec §4.10): every group of the user, in one page.
    UserGroupListBody as PangeaUserGroupListRequest {
        #[schema(pattern = "^pui_[a-z2-7]{32}$")]
        id: String,
        /// Accepted; the list is never paged.
        last: Option<String>,
        #[schema(minimum = 1)]
        size: Option<i64>,
    }
}

/// `user/list` result.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaUserList)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct UserList {
    users: Vec<UserInfo>,
    /// Users matching the filter, on all pages.
    #[schema(minimum = 0)]
    count: u64,
    /// The cursor of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    last: Option<String>,
}

/// `user/authenticators/list` result.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaAuthenticatorList)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AuthenticatorList {
    authenticators: Vec<AuthenticatorInfo>,
}

/// `user/group/list` result: the same groups as objects and as ids.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaUserGroupList)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct UserGroupList {
    groups: Vec<GroupObject>,
    group_ids: Vec<ids::GroupId>,
    #[schema(minimum = 0)]
    count: u64,
}

async fn info_of(call: &Call, user: aegis_core::User) -> Result<Value, Failure> {
    Ok(user_info(&call.state.aegis.user_info(user).await?))
}

/// Create a user — spec §4.1.
#[utoipa::path(post, path = "/v2/user/create", tag = "pangea", operation_id = "pangea_user_create",
    security(("bearer" = [])),
    request_body = UserCreateBody,
    responses(
        (status = 200, description = "User created", body = Envelope<UserInfo>),
        (status = 400, description = "`ValidationError`: the body breaks the schema, or the email, username, profile or password breaks the core's rules", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 409, description = "`UserExists`: the email or username is taken", body = Conflict),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge),
        (status = 503, description = "`ServiceNotAvailable`: the password hashing queue is full", body = Unavailable, headers(("Retry-After" = u64, description = "seconds")))))]
async fn user_create(State(s): State<AppState>, req: Request) -> Response {
    run(s, req, Access::Service(Capability::Administer), create).await
}

async fn create(mut call: Call) -> Outcome {
    let b = &mut call.body;
    let email = b.req_string("email");
    b.pattern("email", &email, email_pattern);
    let username = b.string("username");
    b.pattern("username", &username, username_pattern);
    let profile = b
        .object("profile", true)
        .map(|m| string_map(b, "profile", m));
    let password = b.string("password");
    let call = finish(call)?;
    let user = call
        .state
        .aegis
        .create_user(
            &call.actor(),
            CreateUserRequest {
                username,
                email,
                password,
                role: Role::User,
                profile: profile.unwrap_or_default(),
            },
        )
        .await?;
    Ok(("User created".into(), info_of(&call, user).await?))
}

/// Delete a user — spec §4.2.
#[utoipa::path(post, path = "/v2/user/delete", tag = "pangea", operation_id = "pangea_user_delete",
    security(("bearer" = [])),
    request_body = SelectorBody,
    responses(
        (status = 200, description = "User deleted", body = Envelope<Empty>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`UserNotFound`: the selectors name no user", body = NotFound),
        (status = 409, description = "`LastAdmin`: the user is the last active admin", body = Conflict),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn user_delete(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::Administer),
        |mut call: Call| async move {
            let sel = Selector::read(&mut call.body);
            let call = finish(call)?;
            let user = sel.resolve(&call).await?;
            call.state.aegis.delete_user(&call.actor(), user.id).await?;
            Ok(("User deleted".into(), json!({})))
        },
    )
    .await
}

/// Ends body reading (unexpected keys are errors) and hands the call back.
pub fn finish(mut call: Call) -> Result<Call, Failure> {
    let body = std::mem::replace(&mut call.body, super::body::Body::new(Default::default()));
    body.finish()?;
    Ok(call)
}

/// List users with filters, order and a cursor — spec §4.3.
#[utoipa::path(post, path = "/v2/user/list", tag = "pangea", operation_id = "pangea_user_list",
    security(("bearer" = [])),
    request_body = UserListBody,
    responses(
        (status = 200, description = "`users`, `count`, and `last` when another page exists", body = Envelope<UserList>),
        (status = 400, description = "`ValidationError`: the body breaks the schema, or `last` is not a cursor of this listing", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn user_list(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::ReadDirectory),
        |mut call: Call| async move {
            let listing = parse_user_query(&mut call.body);
            let call = finish(call)?;
            let page = call
                .state
                .aegis
                .query_users(&call.actor(), &listing.query)
                .await?;
            let total = listing.total.unwrap_or(page.total);
            let users: Vec<Value> = page.items.iter().map(user_info).collect();
            let mut result = json!({"users": users, "count": total});
            if page.more {
                if let Some(last) = page.items.last() {
                    result["last"] =
                        json!(super::listing::cursor_after(&listing, total, &last.user));
                }
            }
            let summary = format!("Listed {} of {} users", users.len(), total);
            Ok((summary, result))
        },
    )
    .await
}

/// One user's info — spec §4.4.
#[utoipa::path(post, path = "/v2/user/profile/get", tag = "pangea", operation_id = "pangea_user_profile_get",
    security(("bearer" = [])),
    request_body = SelectorBody,
    responses(
        (status = 200, description = "User found", body = Envelope<UserInfo>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`UserNotFound`: the selectors name no user", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn profile_get(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::ReadDirectory),
        |mut call: Call| async move {
            let sel = Selector::read(&mut call.body);
            let call = finish(call)?;
            let user = sel.resolve(&call).await?;
            Ok(("User found".into(), info_of(&call, user).await?))
        },
    )
    .await
}

/// Merge profile edits (`null` deletes a key) — spec §4.5.
#[utoipa::path(post, path = "/v2/user/profile/update", tag = "pangea", operation_id = "pangea_user_profile_update",
    security(("bearer" = [])),
    request_body = ProfileUpdateBody,
    responses(
        (status = 200, description = "Profile updated", body = Envelope<UserInfo>),
        (status = 400, description = "`ValidationError`: the body breaks the schema, or the merged profile breaks the profile rules", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`UserNotFound`: the selectors name no user", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn profile_update(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::Administer),
        |mut call: Call| async move {
            let sel = Selector::read(&mut call.body);
            let mut edits = std::collections::BTreeMap::new();
            if let Some(map) = call.body.object("profile", true) {
                for (k, v) in map {
                    match v {
                        Value::String(s) => {
                            edits.insert(k, Some(s));
                        }
                        Value::Null => {
                            edits.insert(k, None);
                        }
                        _ => call.body.error(
                            "InvalidString",
                            format!("/profile/{k}"),
                            format!("'{k}' must be a string or null"),
                        ),
                    }
                }
            }
            let call = finish(call)?;
            let user = sel.resolve(&call).await?;
            let user = call
                .state
                .aegis
                .edit_profile(&call.actor(), user.id, edits)
                .await?;
            Ok(("Profile updated".into(), info_of(&call, user).await?))
        },
    )
    .await
}

fn phone_pattern(s: &str) -> bool {
    s.strip_prefix('+')
        .is_some_and(|d| (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Disable/enable, unlock, set the phone — spec §4.6.
#[utoipa::path(post, path = "/v2/user/update", tag = "pangea", operation_id = "pangea_user_update",
    security(("bearer" = [])),
    request_body = UserUpdateBody,
    responses(
        (status = 200, description = "User updated", body = Envelope<UserInfo>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`UserNotFound`: the selectors name no user", body = NotFound),
        (status = 409, description = "`LastAdmin`: disabling the last active admin", body = Conflict),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn user_update(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::Administer),
        |mut call: Call| async move {
            let sel = Selector::read(&mut call.body);
            let disabled = call.body.boolean("disabled");
            let unlock = call.body.boolean("unlock").unwrap_or(false);
            let phone = call.body.string("phone");
            call.body.pattern("phone", &phone, phone_pattern);
            let call = finish(call)?;
            let user = sel.resolve(&call).await?;
            let change = AccountChange {
                disabled,
                unlock,
                phone: phone.map(Some),
            };
            let user = call
                .state
                .aegis
                .change_account(&call.actor(), user.id, change)
                .await?;
            Ok(("User updated".into(), info_of(&call, user).await?))
        },
    )
    .await
}

/// Expire a user's password — spec §4.7.
#[utoipa::path(post, path = "/v2/user/password/expire", tag = "pangea", operation_id = "pangea_user_password_expire",
    security(("bearer" = [])),
    request_body = SelectorBody,
    responses(
        (status = 200, description = "Password expired", body = Envelope<Empty>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`UserNotFound`: the selectors name no user", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn password_expire(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::Administer),
        |mut call: Call| async move {
            let sel = Selector::read(&mut call.body);
            let call = finish(call)?;
            let user = sel.resolve(&call).await?;
            call.state
                .aegis
                .expire_password(&call.actor(), user.id)
                .await?;
            Ok(("Password expired".into(), json!({})))
        },
    )
    .await
}

/// A user's authenticators — spec §4.8.
#[utoipa::path(post, path = "/v2/user/authenticators/list", tag = "pangea", operation_id = "pangea_user_authenticators_list",
    security(("bearer" = [])),
    request_body = SelectorBody,
    responses(
        (status = 200, description = "Authenticators listed", body = Envelope<AuthenticatorList>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`UserNotFound`: the selectors name no user", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn authenticators_list(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::ReadDirectory),
        |mut call: Call| async move {
            let sel = Selector::read(&mut call.body);
            let call = finish(call)?;
            let user = sel.resolve(&call).await?;
            let info = call.state.aegis.user_info(user).await?;
            let rendered = user_info(&info);
            Ok((
                "Authenticators listed".into(),
                json!({"authenticators": rendered["authenticators"]}),
            ))
        },
    )
    .await
}

fn pangea_id_pattern(prefix: &'static str) -> impl Fn(&str) -> bool {
    move |s: &str| !matches!(ids::decode(prefix, s), Err(ids::IdError::Pattern))
}

/// Delete one authenticator — spec §4.9.
#[utoipa::path(post, path = "/v2/user/authenticators/delete", tag = "pangea", operation_id = "pangea_user_authenticators_delete",
    security(("bearer" = [])),
    request_body = AuthenticatorDeleteBody,
    responses(
        (status = 200, description = "Authenticator deleted", body = Envelope<Empty>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`UserNotFound`; `NotFound`: the user has no such authenticator", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn authenticators_delete(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::Administer),
        |mut call: Call| async move {
            let sel = Selector::read(&mut call.body);
            let auth_id = call.body.req_string("authenticator_id");
            call.body.pattern(
                "authenticator_id",
                &auth_id,
                pangea_id_pattern(ids::AUTHENTICATOR),
            );
            let call = finish(call)?;
            let user = sel.resolve(&call).await?;
            let id = auth_id
                .as_deref()
                .and_then(|a| ids::decode(ids::AUTHENTICATOR, a).ok())
                .ok_or_else(|| Failure::not_found("authenticator"))?;
            call.state
                .aegis
                .delete_authenticator(&call.actor(), user.id, id)
                .await?;
            Ok(("Authenticator deleted".into(), json!({})))
        },
    )
    .await
}

/// The user named by a required `id` (`pui_…`) — group endpoints take only ids.
fn user_id(call: &mut Call) -> Option<String> {
    let id = call.body.req_string("id");
    call.body.pattern("id", &id, pangea_id_pattern(ids::USER));
    id
}

fn decode_user(id: &str) -> Result<uuid::Uuid, Failure> {
    ids::decode(ids::USER, id).map_err(|_| Failure::user_not_found())
}

/// Add a user to groups, all or none — spec §4.10.
#[utoipa::path(post, path = "/v2/user/group/assign", tag = "pangea", operation_id = "pangea_user_group_assign",
    security(("bearer" = [])),
    request_body = GroupAssignBody,
    responses(
        (status = 200, description = "Groups assigned", body = Envelope<Empty>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`UserNotFound`; `NotFound`: a group does not exist (nothing is assigned)", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn group_assign(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::Administer),
        |mut call: Call| async move {
            let id = user_id(&mut call);
            let mut groups = Vec::new();
            if let Some(list) = call.body.array("group_ids", true) {
                if list.is_empty() {
                    call.body.error(
                        "BelowMinItems",
                        "/group_ids",
                        "'group_ids' needs at least 1 item",
                    );
                }
                if list.len() > 32 {
                    call.body.error(
                        "AboveMaxItems",
                        "/group_ids",
                        "'group_ids' allows at most 32 items",
                    );
                }
                for (i, v) in list.iter().enumerate() {
                    match v.as_str().map(|s| ids::decode(ids::GROUP, s)) {
                        Some(Ok(g)) => groups.push(Some(g)),
                        Some(Err(ids::IdError::Foreign)) => groups.push(None),
                        _ => call.body.error(
                            "DoesNotMatchPattern",
                            format!("/group_ids/{i}"),
                            "not a group id",
                        ),
                    }
                }
            }
            let call = finish(call)?;
            let user = decode_user(id.as_deref().unwrap_or_default())?;
            let groups: Option<Vec<uuid::Uuid>> = groups.into_iter().collect();
            let groups = groups.ok_or_else(|| Failure::not_found("group"))?;
            call.state
                .aegis
                .assign_groups(&call.actor(), user, &groups)
                .await?;
            Ok(("Groups assigned".into(), json!({})))
        },
    )
    .await
}

/// Remove a user from a group — spec §4.10.
#[utoipa::path(post, path = "/v2/user/group/remove", tag = "pangea", operation_id = "pangea_user_group_remove",
    security(("bearer" = [])),
    request_body = GroupRemoveBody,
    responses(
        (status = 200, description = "Group removed", body = Envelope<Empty>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`UserNotFound`; `NotFound`: the group does not exist", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn group_remove(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::Administer),
        |mut call: Call| async move {
            let id = user_id(&mut call);
            let group = call.body.req_string("group_id");
            call.body
                .pattern("group_id", &group, pangea_id_pattern(ids::GROUP));
            let call = finish(call)?;
            let user = decode_user(id.as_deref().unwrap_or_default())?;
            let group = ids::decode(ids::GROUP, group.as_deref().unwrap_or_default())
                .map_err(|_| Failure::not_found("group"))?;
            call.state
                .aegis
                .remove_group(&call.actor(), user, group)
                .await?;
            Ok(("Group removed".into(), json!({})))
        },
    )
    .await
}

/// The groups of a user, by name — spec §4.10.
#[utoipa::path(post, path = "/v2/user/group/list", tag = "pangea", operation_id = "pangea_user_group_list",
    security(("bearer" = [])),
    request_body = UserGroupListBody,
    responses(
        (status = 200, description = "`groups`, `group_ids` and `count`, by group name", body = Envelope<UserGroupList>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`UserNotFound`: the selectors name no user", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn group_list(State(s): State<AppState>, req: Request) -> Response {
    run(s, req, Access::Service(Capability::ReadDirectory), |mut call: Call| async move {
        let id = user_id(&mut call);
        let _ = call.body.string("last");
        let size = call.body.integer("size");
        if size.is_some_and(|s| s < 1) {
            call.body.error("NotWithinRange", "/size", "'size' must be at least 1");
        }
        let call = finish(call)?;
        let user = decode_user(id.as_deref().unwrap_or_default())?;
        let groups = call.state.aegis.groups_of(&call.actor(), user).await?;
        let n = groups.len();
        let summary = format!("Listed {n} group{}", if n == 1 { "" } else { "s" });
        Ok((
            summary,
            json!({
                "groups": groups.iter().map(group_object).collect::<Vec<_>>(),
                "group_ids": groups.iter().map(|g| ids::encode(ids::GROUP, g.id)).collect::<Vec<_>>(),
                "count": n,
            }),
        ))
    })
    .await
}
