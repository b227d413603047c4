//! Session listings (spec §7.2, §3.8): `client/session/list` (the body token's
//! owner's sessions) and `session/list` (everyone's, directory readers). Only
//! live sessions are listed; `last` is always sent, `""` after the last page.

use std::collections::BTreeMap;

use aegis_core::authz::Capability;
use aegis_core::identity::fold;
use aegis_core::query::{After, Page, Value as Q};
use aegis_core::session::{Session, SessionCondition, SessionField, SessionOrder, SessionQuery};
use aegis_core::User;
use axum::extract::{Request, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::body::{request_schema, Body};
use super::envelope::{time, BadRequest, Envelope, Failure, Forbidden, TooLarge, Unauthorized};
use super::paging::OrderName;
use super::sessions::body_token;
use super::users::finish;
use super::{ids, paging, run, Access, Call};
use crate::state::AppState;

/// The session listing routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(client_session_list))
        .routes(routes!(session_list))
}

/// What a filter key compares.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Time,
    /// A `pmt_` session id.
    SessionId,
    /// A `pui_` user id.
    UserId,
    /// `type`: every session is a `"session"`.
    Type,
    /// Accepted, matches nothing (aegis sessions have no such thing).
    Absent,
}

fn field(name: &str) -> Option<(Option<SessionField>, Kind)> {
    Some(match name {
        "id" => (Some(SessionField::Id), Kind::SessionId),
        "identity" => (Some(SessionField::Identity), Kind::UserId),
        "email" => (Some(SessionField::Email), Kind::Text),
        "username" => (Some(SessionField::Username), Kind::Text),
        "created_at" => (Some(SessionField::CreatedAt), Kind::Time),
        "expire" => (Some(SessionField::Expire), Kind::Time),
        "type" => (None, Kind::Type),
        "active_token_id" => (None, Kind::Absent),
        _ => return None,
    })
}

/// One filter value: `Ok(None)` when it can match nothing (a foreign id, or a
/// type other than `"session"`).
fn value(kind: Kind, v: &Value) -> Result<Option<Q>, &'static str> {
    let text = || v.as_str().ok_or("InvalidString");
    let id = |prefix| match ids::decode(prefix, text()?) {
        Ok(id) => Ok(Some(Q::Id(id))),
        Err(ids::IdError::Foreign) => Ok(None),
        Err(ids::IdError::Pattern) => Err("DoesNotMatchPattern"),
    };
    match kind {
        Kind::Text => Ok(Some(Q::Text(fold(text()?)))),
        Kind::Time => DateTime::parse_from_rfc3339(text()?)
            .map(|t| Some(Q::Time(t.with_timezone(&Utc))))
            .map_err(|_| "BadFormatDateTime"),
        Kind::SessionId => id(ids::TOKEN),
        Kind::UserId => id(ids::USER),
        Kind::Type => Ok((text()? == "session").then(|| Q::Text("session".into()))),
        Kind::Absent => text().map(|_| None),
    }
}

/// The condition of one filter entry; `None` when it holds for every session.
fn condition(body: &mut Body, key: &str, v: &Value) -> Result<Option<SessionCondition>, ()> {
    use SessionCondition as C;
    let src = format!("/filter/{key}");
    let (name, op) = key
        .rsplit_once("__")
        .map_or((key, None), |(n, o)| (n, Some(o)));
    let fail = |body: &mut Body, code, detail: String| {
        body.error(code, src.clone(), detail);
        Err(())
    };
    if name == "enabled" && op.is_none() {
        return match v.as_bool() {
            Some(true) => Ok(None),
            Some(false) => Ok(Some(C::Never)), // dead sessions are not listed
            None => fail(body, "InvalidBool", "'enabled' must be a boolean".into()),
        };
    }
    if name == "scopes" && op.is_none() {
        return match v.as_array() {
            Some(a) if !a.is_empty() => Ok(Some(C::Never)),
            Some(_) => Ok(None),
            None => fail(body, "InvalidArray", "'scopes' must be an array".into()),
        };
    }
    let unexpected = format!("'{key}' is not a filter");
    let Some((f, kind)) = field(name) else {
        return fail(body, "UnexpectedProperty", unexpected);
    };
    let ordered = matches!(kind, Kind::Time);
    let one = |body: &mut Body, v: &Value| {
        value(kind, v)
            .map_err(|code| body.error(code, src.clone(), format!("bad value for '{key}'")))
    };
    Ok(match op {
        None => match (one(body, v)?, f) {
            (None, _) => Some(C::Never),
            (Some(_), None) => None, // type "session"
            (Some(q), Some(f)) => Some(C::Eq(f, q)),
        },
        Some(op @ ("in" | "contains")) if op == "in" || !ordered => {
            let Some(items) = v.as_array() else {
                return fail(body, "InvalidArray", format!("'{key}' must be an array"));
            };
            let mut vals = Vec::new();
            let mut bad = false;
            for it in items {
                match one(body, it) {
                    Ok(q) => vals.extend(q),
                    Err(()) => bad = true,
                }
            }
            if bad {
                return Err(());
            }
            match (op, f, kind) {
                ("in", None, Kind::Type) if !vals.is_empty() => None,
                ("contains", None, Kind::Type) => {
                    let all = items
                        .iter()
                        .all(|s| s.as_str().is_some_and(|s| "session".contains(s)));
                    (!all).then_some(C::Never)
                }
                ("contains", Some(f), Kind::Text) => Some(C::Contains(
                    f,
                    vals.into_iter()
                        .filter_map(|q| if let Q::Text(s) = q { Some(s) } else { None })
                        .collect(),
                )),
                ("in", Some(f), _) if !vals.is_empty() => Some(C::In(f, vals)),
                // An id is compared whole; an absent thing matches nothing.
                _ => Some(C::Never),
            }
        }
        Some(o @ ("gt" | "gte" | "lt" | "lte")) if ordered => match (one(body, v)?, f) {
            (Some(q), Some(f)) => Some(match o {
                "gt" => C::Gt(f, q),
                "gte" => C::Gte(f, q),
                "lt" => C::Lt(f, q),
                _ => C::Lte(f, q),
            }),
            _ => Some(C::Never),
        },
        _ => return fail(body, "UnexpectedProperty", unexpected),
    })
}

fn order_by(name: &str) -> Option<SessionOrder> {
    Some(match name {
        "id" => SessionOrder::Id,
        "created_at" | "type" | "active_token_id" => SessionOrder::CreatedAt,
        "identity" => SessionOrder::Identity,
        "email" => SessionOrder::Email,
        "expire" => SessionOrder::Expire,
        _ => return None,
    })
}

/// `session/list` and `client/session/list` `order_by` (spec §7.2).
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaSessionOrderBy)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum SessionOrderBy {
    Id,
    CreatedAt,
    Identity,
    Email,
    Expire,
    /// Sorts as `created_at`.
    Type,
    /// Sorts as `created_at`.
    ActiveTokenId,
}

// Mirrors `condition`.
/// The session listings' `filter` (spec §7.2); at most 100 values per list.
/// Only live sessions are listed: `enabled: false` matches none; every session
/// is of `type` `session`; `scopes` (non-empty) and `active_token_id` match none.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaSessionFilter)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, non_snake_case)]
struct SessionFilter {
    #[schema(nullable = false)]
    enabled: Option<bool>,
    #[schema(nullable = false)]
    scopes: Option<Vec<String>>,
    #[schema(nullable = false, pattern = "^pmt_[a-z2-7]{32}$")]
    id: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    id__in: Option<Vec<ids::SessionId>>,
    #[schema(nullable = false, max_items = 100)]
    id__contains: Option<Vec<ids::SessionId>>,
    #[schema(nullable = false, pattern = "^pui_[a-z2-7]{32}$")]
    identity: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    identity__in: Option<Vec<ids::UserId>>,
    #[schema(nullable = false, max_items = 100)]
    identity__contains: Option<Vec<ids::UserId>>,
    #[schema(nullable = false)]
    email: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    email__in: Option<Vec<String>>,
    #[schema(nullable = false, max_items = 100)]
    email__contains: Option<Vec<String>>,
    #[schema(nullable = false)]
    username: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    username__in: Option<Vec<String>>,
    #[schema(nullable = false, max_items = 100)]
    username__contains: Option<Vec<String>>,
    #[serde(rename = "type")]
    #[schema(nullable = false)]
    kind: Option<String>,
    #[serde(rename = "type__in")]
    #[schema(nullable = false, max_items = 100)]
    kind__in: Option<Vec<String>>,
    #[serde(rename = "type__contains")]
    #[schema(nullable = false, max_items = 100)]
    kind__contains: Option<Vec<String>>,
    #[schema(nullable = false)]
    active_token_id: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    active_token_id__in: Option<Vec<String>>,
    #[schema(nullable = false, max_items = 100)]
    active_token_id__contains: Option<Vec<String>>,
    #[schema(nullable = false, format = DateTime)]
    created_at: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    created_at__in: Option<Vec<ids::Timestamp>>,
    #[schema(nullable = false, format = DateTime)]
    created_at__gt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__gte: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__lt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__lte: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    expire: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    expire__in: Option<Vec<ids::Timestamp>>,
    #[schema(nullable = false, format = DateTime)]
    expire__gt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    expire__gte: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    expire__lt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    expire__lte: Option<String>,
}

request_schema! {
    /// `session/list` (spec §7.2).
    SessionListBody as PangeaSessionListRequest {
        filter: Option<SessionFilter>,
        /// The `last` of the previous page (bound to the same filter and order).
        last: Option<String>,
        order: Option<OrderName>,
        order_by: Option<SessionOrderBy>,
        /// Default 20; more than 1000 is 1000.
        #[schema(minimum = 1)]
        size: Option<i64>,
    }
}

request_schema! {
    /// `client/session/list` (spec §7.2): the sessions of the `token`'s user.
    ClientSessionListBody as PangeaClientSessionListRequest {
        token: String,
        filter: Option<SessionFilter>,
        /// The `last` of the previous page (bound to the same filter, order and user).
        last: Option<String>,
        order: Option<OrderName>,
        order_by: Option<SessionOrderBy>,
        /// Default 20; more than 1000 is 1000.
        #[schema(minimum = 1)]
        size: Option<i64>,
    }
}

/// A listed session (SDK `SessionItem`).
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaSession)]
#[serde(deny_unknown_fields)]
struct SessionItem {
    /// `pmt_…`
    #[schema(pattern = "^pmt_[a-z2-7]{32}$")]
    id: String,
    #[serde(rename = "type")]
    kind: SessionType,
    /// Total lifetime, seconds.
    #[schema(minimum = 1)]
    life: i64,
    #[schema(format = DateTime)]
    expire: String,
    /// `""` for a user without an email.
    email: String,
    profile: BTreeMap<String, String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// The user, `pui_…`.
    #[schema(pattern = "^pui_[a-z2-7]{32}$")]
    identity: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaSessionType)]
#[serde(rename_all = "lowercase")]
enum SessionType {
    Session,
}

/// A session listing's result.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaSessionList)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SessionList {
    sessions: Vec<SessionItem>,
    /// Sessions matching the filter, on all pages.
    #[schema(minimum = 0)]
    count: u64,
    /// The cursor of the next page; `""` on the last page.
    last: String,
}

/// A parsed session listing request.
struct Listing {
    query: SessionQuery,
    /// What a cursor of this listing must carry (hash of endpoint, filter, order).
    binding: String,
    /// The total counted for the first page, carried by the cursor.
    total: Option<u64>,
    /// The user a client listing's cursor was made for.
    owner: Option<Uuid>,
}

/// Reads `filter`, `order`, `order_by`, `size` and `last`; problems are
/// recorded in `body`. `endpoint` keeps the two listings' cursors apart.
fn parse(body: &mut Body, endpoint: &str) -> Listing {
    let filter = body.object("filter", false).unwrap_or_default();
    let mut conditions = Vec::new();
    for (key, v) in &filter {
        if let Ok(c) = condition(body, key, v) {
            conditions.extend(c);
        }
    }
    let order = paging::order(body);
    let by = match body.string("order_by").as_deref() {
        None => SessionOrder::CreatedAt,
        Some(n) => order_by(n).unwrap_or_else(|| {
            body.error(
                "NotEnumMember",
                "/order_by",
                "'order_by' is not a sortable field",
            );
            SessionOrder::CreatedAt
        }),
    };
    let size = paging::size(body);
    let binding = paging::binding(
        json!({"e": endpoint, "f": filter, "o": format!("{order:?}"), "b": format!("{by:?}")}),
    );
    let cursor = paging::last(body, &binding);
    let (after, total, owner) = match cursor {
        Some(c) => (
            Some(After {
                key: c.key,
                id: c.id,
            }),
            Some(c.total),
            c.owner,
        ),
        None => (None, None, None),
    };
    Listing {
        query: SessionQuery {
            user: None,
            conditions,
            order_by: by,
            order,
            size,
            after,
            skip_total: total.is_some(),
        },
        binding,
        total,
        owner,
    }
}

/// The cursor continuing after `last`, carrying the listing's total (and, for
/// a client listing, its owner).
fn cursor_after(listing: &Listing, total: u64, (s, u): &(Session, User)) -> String {
    let key = match listing.query.order_by {
        SessionOrder::Id => Some(Q::Id(s.id)),
        SessionOrder::CreatedAt => Some(Q::Time(s.created_at)),
        SessionOrder::Identity => Some(Q::Id(s.user_id)),
        SessionOrder::Expire => Some(Q::Time(s.expires_at)),
        SessionOrder::Email => u.email.as_ref().map(|e| Q::Text(e.as_str().to_owned())),
    };
    let cursor = paging::Cursor {
        key,
        id: s.id,
        total,
        owner: listing.query.user,
    };
    paging::encode(&listing.binding, &cursor)
}

/// The session item of a session.
fn session_item((s, u): &(Session, User)) -> Value {
    json!(SessionItem {
        id: ids::encode(ids::TOKEN, s.id),
        kind: SessionType::Session,
        life: (s.expires_at - s.created_at).num_seconds().max(1),
        expire: time(s.expires_at),
        email: u
            .email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
        profile: u.profile.clone(),
        created_at: time(s.created_at),
        identity: ids::encode(ids::USER, u.id),
    })
}

/// The result: `sessions`, `count` and `last` (always; `""` on the last page).
fn result(listing: &Listing, page: Page<(Session, User)>) -> (String, Value) {
    let total = listing.total.unwrap_or(page.total);
    let last = match page.items.last() {
        Some(item) if page.more => cursor_after(listing, total, item),
        _ => String::new(),
    };
    let sessions: Vec<Value> = page.items.iter().map(session_item).collect();
    let summary = format!("Listed {} of {total} sessions", sessions.len());
    (
        summary,
        json!({"sessions": sessions, "count": total, "last": last}),
    )
}

/// The body token owner's live sessions — spec §7.2 `client/session/list`.
#[utoipa::path(post, path = "/v2/client/session/list", tag = "pangea", operation_id = "pangea_client_session_list",
    security(("bearer" = [])),
    request_body = ClientSessionListBody,
    responses(
        (status = 200, description = "`sessions`, `count` and `last` (`\"\"` on the last page)", body = Envelope<SessionList>),
        (status = 400, description = "`ValidationError`: the body breaks the schema, or `last` is not a cursor of this listing; `InvalidToken` or `ExpiredToken`: the body's `token` does not work", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn client_session_list(State(s): State<AppState>, req: Request) -> Response {
    run(s, req, Access::Client, |mut call: Call| async move {
        let token = call.body.req_string("token");
        let mut listing = parse(&mut call.body, "client");
        let call = finish(call)?;
        let aegis = &call.state.aegis;
        let owner = aegis
            .authenticate(&token.unwrap_or_default())
            .await
            .map_err(body_token)?;
        // A cursor of another user's listing is not one of this listing.
        if listing.query.after.is_some() && listing.owner != Some(owner.user.id) {
            return Err(Failure::field(
                "BadFormat",
                "/last",
                "'last' is not a cursor of this listing",
            ));
        }
        listing.query.user = Some(owner.user.id);
        let page = aegis.list_own_sessions(&owner, &listing.query).await?;
        Ok(result(&listing, page))
    })
    .await
}

/// Every user's live sessions — spec §7.2 `session/list`.
#[utoipa::path(post, path = "/v2/session/list", tag = "pangea", operation_id = "pangea_session_list",
    security(("bearer" = [])),
    request_body = SessionListBody,
    responses(
        (status = 200, description = "`sessions`, `count` and `last` (`\"\"` on the last page)", body = Envelope<SessionList>),
        (status = 400, description = "`ValidationError`: the body breaks the schema, or `last` is not a cursor of this listing", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn session_list(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::ReadDirectory),
        |mut call: Call| async move {
            let listing = parse(&mut call.body, "service");
            let call = finish(call)?;
            let page = call
                .state
                .aegis
                .list_sessions(&call.actor(), &listing.query)
                .await?;
            Ok(result(&listing, page))
        },
    )
    .await
}
