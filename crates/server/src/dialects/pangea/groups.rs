//! `/v2/group/*`: groups as core objects (spec §7.4).

use aegis_core::authz::Capability;
use aegis_core::group::{Group, GroupUpdate};
use aegis_core::Error;
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::body::string_map;
use super::envelope::{time, Failure};
use super::users::finish;
use super::{ids, run, user_info, Access, Call};
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

/// The group object.
pub fn group_object(g: &Group) -> Value {
    let mut v = json!({
        "id": ids::encode(ids::GROUP, g.id),
        "name": g.name,
        "type": g.kind,
        "attributes": g.attributes,
        "created_at": time(g.created_at),
        "updated_at": time(g.updated_at),
    });
    if let Some(d) = &g.description {
        v["description"] = json!(d);
    }
    v
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
#[utoipa::path(post, path = "/v2/group/create", tag = "pangea", responses((status = 200, description = "Group created")))]
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
#[utoipa::path(post, path = "/v2/group/get", tag = "pangea", responses((status = 200, description = "Group found")))]
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
#[utoipa::path(post, path = "/v2/group/update", tag = "pangea", responses((status = 200, description = "Group updated")))]
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
#[utoipa::path(post, path = "/v2/group/delete", tag = "pangea", responses((status = 200, description = "Group deleted")))]
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
#[utoipa::path(post, path = "/v2/group/list", tag = "pangea", responses((status = 200, description = "groups, count, last")))]
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
#[utoipa::path(post, path = "/v2/group/user/list", tag = "pangea", responses((status = 200, description = "users, count, last")))]
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
