//! `/v2/group/*`: groups as core objects (spec §7.4).

use aegis_core::authz::Capability;
use aegis_core::group::{Group, GroupUpdate};
use std::collections::BTreeMap;

use aegis_core::Error;
use axum::extract::{Request, State};
use axum::response::Response;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::body::{request_schema, string_map, string_map_schema};
use super::envelope::{
    time, BadRequest, Empty, Envelope, Failure, Forbidden, NotFound, TooLarge, Unauthorized,
};
use super::group_list::{GroupFilter, GroupOrderBy};
use super::paging::OrderName;
use super::users::finish;
use super::{ids, run, user_info, Access, Call, UserInfo};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(group_create))
        .routes(routes!(group_get))
        .routes(routes!(group_update))
        .routes(routes!(group_delete))
        .routes(routes!(group_list))
        .routes(routes!(group_user_list))
}

/// The group object (spec §4.10, §7.4).
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaGroup)]
#[serde(deny_unknown_fields)]
pub struct GroupObject {
    /// `pgi_…`
    #[schema(pattern = "^pgi_[a-z2-7]{32}$")]
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    description: Option<String>,
    attributes: BTreeMap<String, String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// The group object of a group.
pub fn group_object(g: &Group) -> Value {
    json!(GroupObject {
        id: ids::encode(ids::GROUP, g.id),
        name: g.name.clone(),
        kind: g.kind.clone(),
        description: g.description.clone(),
        attributes: g.attributes.clone(),
        created_at: time(g.created_at),
        updated_at: time(g.updated_at),
    })
}

request_schema! {
    /// `group/create` (spec §7.4); the name is unique (case-insensitively).
    GroupCreateBody as PangeaGroupCreateRequest {
        name: String,
        #[serde(rename = "type")]
        kind: String,
        description: Option<String>,
        #[schema(schema_with = string_map_schema, nullable)]
        attributes: Option<BTreeMap<String, String>>,
    }
}

request_schema! {
    /// A group by id (`group/get`, `group/delete`).
    GroupIdBody as PangeaGroupIdRequest {
        #[schema(pattern = "^pgi_[a-z2-7]{32}$")]
        id: String,
    }
}

request_schema! {
    /// `group/update` (spec §7.4): the given fields change, the others stay.
    GroupUpdateBody as PangeaGroupUpdateRequest {
        #[schema(pattern = "^pgi_[a-z2-7]{32}$")]
        id: String,
        name: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
        description: Option<String>,
        /// Replaces all attributes.
        #[schema(schema_with = string_map_schema, nullable)]
        attributes: Option<BTreeMap<String, String>>,
    }
}

request_schema! {
    /// `group/list` (spec §7.4).
    GroupListBody as PangeaGroupListRequest {
        filter: Option<GroupFilter>,
        /// The `last` of the previous page (bound to the same filter and order).
        last: Option<String>,
        order: Option<OrderName>,
        /// Default `name`.
        order_by: Option<GroupOrderBy>,
        /// Default 20; more than 1000 is 1000.
        #[schema(minimum = 1)]
        size: Option<i64>,
    }
}

request_schema! {
    /// `group/user/list` (spec §7.4): members by user id.
    GroupUserListBody as PangeaGroupUserListRequest {
        #[schema(pattern = "^pgi_[a-z2-7]{32}$")]
        id: String,
        /// The `last` of the previous page.
        #[schema(pattern = "^(pui_[a-z2-7]{32})?$")]
        last: Option<String>,
        /// Default 20; more than 1000 is 1000.
        #[schema(minimum = 1)]
        size: Option<i64>,
    }
}

/// `group/list` result.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaGroupList)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct GroupList {
    groups: Vec<GroupObject>,
    #[schema(minimum = 0)]
    count: u64,
    /// The cursor of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    last: Option<String>,
}

/// `group/user/list` result.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaGroupUserList)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct GroupUserList {
    users: Vec<UserInfo>,
    #[schema(minimum = 0)]
    count: u64,
    /// The cursor of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    last: Option<String>,
}

fn name_taken(e: Error) -> Failure {
    match e {
        Error::Conflict { field: "name" } => {
            Failure::field("InvalidValue", "/name", "a group with this name exists")
        }
        e => e.into(),
    }
}

/// Reads a required `pgi_…` id; a foreign one is simply not found.
fn group_id(call: &mut Call) -> Option<String> {
    let id = call.body.req_string("id");
    call.body.pattern("id", &id, |s| {
        !matches!(ids::decode(ids::GROUP, s), Err(ids::IdError::Pattern))
    });
    id
}

fn decode(id: Option<String>) -> Result<Uuid, Failure> {
    ids::decode(ids::GROUP, id.as_deref().unwrap_or_default())
        .map_err(|_| Failure::not_found("group"))
}

/// Create a group — spec §7.4.
#[utoipa::path(post, path = "/v2/group/create", tag = "pangea", operation_id = "pangea_group_create",
    security(("bearer" = [])),
    request_body = GroupCreateBody,
    responses(
        (status = 200, description = "Group created", body = Envelope<GroupObject>),
        (status = 400, description = "`ValidationError`: the body breaks the schema, a field breaks the core's rules, or the name is taken (`InvalidValue` at `/name`)", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn group_create(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::Administer),
        |mut call: Call| async move {
            let name = call.body.req_string("name");
            let kind = call.body.req_string("type");
            let description = call.body.string("description");
            let attributes = call
                .body
                .object("attributes", false)
                .map(|m| string_map(&mut call.body, "attributes", m))
                .unwrap_or_default();
            let call = finish(call)?;
            let g = call
                .state
                .aegis
                .create_group(
                    &call.actor(),
                    &name.unwrap_or_default(),
                    &kind.unwrap_or_default(),
                    description,
                    attributes,
                )
                .await
                .map_err(name_taken)?;
            Ok(("Group created".into(), group_object(&g)))
        },
    )
    .await
}

/// One group — spec §7.4.
#[utoipa::path(post, path = "/v2/group/get", tag = "pangea", operation_id = "pangea_group_get",
    security(("bearer" = [])),
    request_body = GroupIdBody,
    responses(
        (status = 200, description = "Group found", body = Envelope<GroupObject>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`NotFound`: the group does not exist", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn group_get(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::ReadDirectory),
        |mut call: Call| async move {
            let id = group_id(&mut call);
            let call = finish(call)?;
            let g = call
                .state
                .aegis
                .get_group(&call.actor(), decode(id)?)
                .await?;
            Ok(("Group found".into(), group_object(&g)))
        },
    )
    .await
}

/// Change a group — spec §7.4.
#[utoipa::path(post, path = "/v2/group/update", tag = "pangea", operation_id = "pangea_group_update",
    security(("bearer" = [])),
    request_body = GroupUpdateBody,
    responses(
        (status = 200, description = "Group updated", body = Envelope<GroupObject>),
        (status = 400, description = "`ValidationError`: the body breaks the schema, a field breaks the core's rules, or the name is taken (`InvalidValue` at `/name`)", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`NotFound`: the group does not exist", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn group_update(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::Administer),
        |mut call: Call| async move {
            let id = group_id(&mut call);
            let name = call.body.string("name");
            let kind = call.body.string("type");
            let description = call.body.string("description");
            let attributes = call
                .body
                .object("attributes", false)
                .map(|m| string_map(&mut call.body, "attributes", m));
            let call = finish(call)?;
            let update = GroupUpdate {
                name,
                kind,
                description: description.map(Some),
                attributes,
            };
            let g = call
                .state
                .aegis
                .update_group(&call.actor(), decode(id)?, update)
                .await
                .map_err(name_taken)?;
            Ok(("Group updated".into(), group_object(&g)))
        },
    )
    .await
}

/// Delete a group (and its memberships) — spec §7.4.
#[utoipa::path(post, path = "/v2/group/delete", tag = "pangea", operation_id = "pangea_group_delete",
    security(("bearer" = [])),
    request_body = GroupIdBody,
    responses(
        (status = 200, description = "Group deleted", body = Envelope<Empty>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`NotFound`: the group does not exist", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn group_delete(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::Administer),
        |mut call: Call| async move {
            let id = group_id(&mut call);
            let call = finish(call)?;
            call.state
                .aegis
                .delete_group(&call.actor(), decode(id)?)
                .await?;
            Ok(("Group deleted".into(), json!({})))
        },
    )
    .await
}

fn size_of(call: &mut Call) -> u32 {
    match call.body.integer("size") {
        None => 20,
        Some(n) if n < 1 => {
            call.body
                .error("NotWithinRange", "/size", "'size' must be at least 1");
            20
        }
        Some(n) => n.min(1000) as u32,
    }
}

/// Groups, filtered and ordered — spec §7.4.
#[utoipa::path(post, path = "/v2/group/list", tag = "pangea", operation_id = "pangea_group_list",
    security(("bearer" = [])),
    request_body = GroupListBody,
    responses(
        (status = 200, description = "`groups`, `count`, and `last` when another page exists", body = Envelope<GroupList>),
        (status = 400, description = "`ValidationError`: the body breaks the schema, or `last` is not a cursor of this listing", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn group_list(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::ReadDirectory),
        |mut call: Call| async move {
            let listing = super::group_list::parse(&mut call.body);
            let call = finish(call)?;
            let groups = call.state.aegis.all_groups(&call.actor()).await?;
            let (page, total, next) = listing.page(groups);
            let mut result = json!({
                "groups": page.iter().map(group_object).collect::<Vec<_>>(),
                "count": total,
            });
            if let Some(next) = next {
                result["last"] = json!(next);
            }
            Ok((format!("Listed {} of {} groups", page.len(), total), result))
        },
    )
    .await
}

/// Members of a group — spec §7.4.
#[utoipa::path(post, path = "/v2/group/user/list", tag = "pangea", operation_id = "pangea_group_user_list",
    security(("bearer" = [])),
    request_body = GroupUserListBody,
    responses(
        (status = 200, description = "`users`, `count`, and `last` when another page exists", body = Envelope<GroupUserList>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`NotFound`: the group does not exist", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn group_user_list(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::ReadDirectory),
        |mut call: Call| async move {
            let id = group_id(&mut call);
            let size = size_of(&mut call);
            let last = call.body.string("last").filter(|s| !s.is_empty());
            let after = match last {
                Some(c) => match ids::decode(ids::USER, &c) {
                    Ok(u) => Some(u),
                    Err(_) => {
                        call.body.error(
                            "BadFormat",
                            "/last",
                            "'last' is not a cursor of this listing",
                        );
                        None
                    }
                },
                None => None,
            };
            let call = finish(call)?;
            let page = call
                .state
                .aegis
                .group_members(&call.actor(), decode(id)?, after, size)
                .await?;
            let mut result = json!({
                "users": page.items.iter().map(user_info).collect::<Vec<_>>(),
                "count": page.total,
            });
            if page.more {
                if let Some(u) = page.items.last() {
                    result["last"] = json!(ids::encode(ids::USER, u.user.id));
                }
            }
            Ok((
                format!("Listed {} of {} users", page.items.len(), page.total),
                result,
            ))
        },
    )
    .await
}
