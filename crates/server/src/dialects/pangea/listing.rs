//! `user/list` requests (spec §3.8, §4.3): filter operators, order, size and the
//! opaque keyset cursor `last`, which binds the filter and order it was made for.

use aegis_core::identity::fold;
use aegis_core::query::{After, Condition, UserField, UserOrder, UserQuery, Value as Q};
use aegis_core::User;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::body::Body;
use super::{ids, paging};

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Time,
    Int,
    Bool,
    Id,
    /// Accepted, matches only absence (aegis never has it).
    Absent,
}

fn field(name: &str) -> Option<(Option<UserField>, Kind)> {
    Some(match name {
        "id" => (Some(UserField::Id), Kind::Id),
        "email" => (Some(UserField::Email), Kind::Text),
        "username" => (Some(UserField::Username), Kind::Text),
        "created_at" => (Some(UserField::CreatedAt), Kind::Time),
        "last_login_at" => (Some(UserField::LastLoginAt), Kind::Time),
        "last_login_ip" => (Some(UserField::LastLoginIp), Kind::Text),
        "login_count" => (Some(UserField::LoginCount), Kind::Int),
        "disabled" => (Some(UserField::Disabled), Kind::Bool),
        "verified" => (Some(UserField::Verified), Kind::Bool),
        "accepted_eula_id"
        | "accepted_privacy_policy_id"
        | "last_login_city"
        | "last_login_country" => (None, Kind::Absent),
        _ => return None,
    })
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One filter value of the field's kind; `Ok(None)` for an id that is well
/// formed but not ours (it can match nothing).
fn value(kind: Kind, v: &Value) -> Result<Option<Q>, &'static str> {
    match kind {
        Kind::Text => v
            .as_str()
            .map(|s| Some(Q::Text(fold(s))))
            .ok_or("InvalidString"),
        Kind::Time => v.as_str().ok_or("InvalidString").and_then(|s| {
            parse_time(s)
                .map(|t| Some(Q::Time(t)))
                .ok_or("BadFormatDateTime")
        }),
        Kind::Int => v.as_i64().map(|n| Some(Q::Int(n))).ok_or("InvalidInteger"),
        Kind::Bool => v.as_bool().map(|b| Some(Q::Bool(b))).ok_or("InvalidBool"),
        Kind::Id => {
            let s = v.as_str().ok_or("InvalidString")?;
            match ids::decode(ids::USER, s) {
                Ok(id) => Ok(Some(Q::Id(id))),
                Err(ids::IdError::Foreign) => Ok(None),
                Err(ids::IdError::Pattern) => Err("DoesNotMatchPattern"),
            }
        }
        Kind::Absent => Ok(None),
    }
}

fn parse_filter(body: &mut Body, filter: &Map<String, Value>) -> Vec<Condition> {
    let mut out = Vec::new();
    for (key, v) in filter {
        let src = format!("/filter/{key}");
        if key == "require_mfa" {
            match v.as_bool() {
                Some(has) => out.push(Condition::SecondFactor(has)),
                None => body.error("InvalidBool", src, "'require_mfa' must be a boolean"),
            }
            continue;
        }
        if key == "scopes" {
            match v.as_array() {
                Some(a) if !a.is_empty() => out.push(Condition::Never),
                Some(_) => {}
                None => body.error("InvalidArray", src, "'scopes' must be an array"),
            }
            continue;
        }
        let (name, op) = match key.rsplit_once("__") {
            Some((n, op)) => (n, Some(op)),
            None => (key.as_str(), None),
        };
        let Some((f, kind)) = field(name) else {
            body.error(
                "UnexpectedProperty",
                src,
                format!("'{key}' is not a filter"),
            );
            continue;
        };
        let ordered = matches!(kind, Kind::Time | Kind::Int);
        let textual = matches!(kind, Kind::Text | Kind::Id | Kind::Absent);
        let one = |body: &mut Body, v: &Value| match value(kind, v) {
            Ok(q) => Some(q),
            Err(code) => {
                body.error(code, src.clone(), format!("bad value for '{key}'"));
                None
            }
        };
        let cond = match op {
            None if !matches!(kind, Kind::Absent) || v.is_string() => match one(body, v) {
                Some(Some(q)) => f.map(|f| Condition::Eq(f, q)),
                Some(None) => Some(Condition::Never),
                None => None,
            },
            Some("in") | Some("contains") if textual || op == Some("in") => {
                let Some(items) = v.as_array() else {
                    body.error("InvalidArray", src, format!("'{key}' must be an array"));
                    continue;
                };
                let mut vals = Vec::new();
                for it in items {
                    if let Some(q) = one(body, it) {
                        vals.extend(q);
                    }
                }
                match (op, f, kind) {
                    (_, None, _) => Some(Condition::Never),
                    (Some("contains"), Some(f), Kind::Text) => Some(Condition::Contains(
                        f,
                        vals.into_iter()
                            .filter_map(|q| if let Q::Text(s) = q { Some(s) } else { None })
                            .collect(),
                    )),
                    (Some("contains"), _, _) => Some(Condition::Never),
                    (_, Some(f), _) if vals.is_empty() => {
                        let _ = f;
                        Some(Condition::Never)
                    }
                    (_, Some(f), _) => Some(Condition::In(f, vals)),
                }
            }
            Some(o @ ("gt" | "gte" | "lt" | "lte")) if ordered => match (one(body, v), f) {
                (Some(Some(q)), Some(f)) => Some(match o {
                    "gt" => Condition::Gt(f, q),
                    "gte" => Condition::Gte(f, q),
                    "lt" => Condition::Lt(f, q),
                    _ => Condition::Lte(f, q),
                }),
                _ => None,
            },
            _ => {
                body.error(
                    "UnexpectedProperty",
                    src,
                    format!("'{key}' is not a filter"),
                );
                None
            }
        };
        out.extend(cond);
    }
    out
}

fn order_by(name: &str) -> Option<UserOrder> {
    Some(match name {
        "id" => UserOrder::Id,
        "created_at" | "active_token_id" | "accepted_eula_id" | "accepted_privacy_policy_id" => {
            UserOrder::CreatedAt
        }
        "last_login_at" => UserOrder::LastLoginAt,
        "last_login_ip" => UserOrder::LastLoginIp,
        "login_count" => UserOrder::LoginCount,
        "email" => UserOrder::Email,
        _ => return None,
    })
}

// Mirrors `order_by`.
/// `user/list` `order_by` (spec §4.3).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = PangeaUserOrderBy)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum UserOrderBy {
    Id,
    CreatedAt,
    LastLoginAt,
    LastLoginIp,
    LoginCount,
    Email,
    /// Sorts as `created_at`.
    ActiveTokenId,
    /// Sorts as `created_at`.
    AcceptedEulaId,
    /// Sorts as `created_at`.
    AcceptedPrivacyPolicyId,
}

// Mirrors `parse_filter`.
/// `user/list` `filter` (spec §3.8, §4.3): at most 100 values per list; one
/// key per field and operator. Text compares case-insensitively; `require_mfa`
/// matches users with a TOTP or passkey; `scopes` (non-empty) and the
/// `accepted_*` and `last_login_city`/`_country` fields match only absence.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = PangeaUserFilter)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, non_snake_case)]
pub struct UserFilter {
    #[schema(nullable = false, pattern = "^pui_[a-z2-7]{32}$")]
    id: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    id__in: Option<Vec<super::ids::UserId>>,
    #[schema(nullable = false, max_items = 100)]
    id__contains: Option<Vec<super::ids::UserId>>,
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
    #[schema(nullable = false)]
    last_login_ip: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    last_login_ip__in: Option<Vec<String>>,
    #[schema(nullable = false, max_items = 100)]
    last_login_ip__contains: Option<Vec<String>>,
    #[schema(nullable = false, format = DateTime)]
    created_at: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    created_at__in: Option<Vec<super::ids::Timestamp>>,
    #[schema(nullable = false, format = DateTime)]
    created_at__gt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__gte: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__lt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__lte: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    last_login_at: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    last_login_at__in: Option<Vec<super::ids::Timestamp>>,
    #[schema(nullable = false, format = DateTime)]
    last_login_at__gt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    last_login_at__gte: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    last_login_at__lt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    last_login_at__lte: Option<String>,
    #[schema(nullable = false)]
    login_count: Option<i64>,
    #[schema(nullable = false, max_items = 100)]
    login_count__in: Option<Vec<i64>>,
    #[schema(nullable = false)]
    login_count__gt: Option<i64>,
    #[schema(nullable = false)]
    login_count__gte: Option<i64>,
    #[schema(nullable = false)]
    login_count__lt: Option<i64>,
    #[schema(nullable = false)]
    login_count__lte: Option<i64>,
    #[schema(nullable = false)]
    disabled: Option<bool>,
    #[schema(nullable = false, max_items = 100)]
    disabled__in: Option<Vec<bool>>,
    #[schema(nullable = false)]
    verified: Option<bool>,
    #[schema(nullable = false, max_items = 100)]
    verified__in: Option<Vec<bool>>,
    #[schema(nullable = false)]
    require_mfa: Option<bool>,
    #[schema(nullable = false)]
    scopes: Option<Vec<String>>,
    #[schema(nullable = false)]
    accepted_eula_id: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    accepted_eula_id__in: Option<Vec<String>>,
    #[schema(nullable = false, max_items = 100)]
    accepted_eula_id__contains: Option<Vec<String>>,
    #[schema(nullable = false)]
    accepted_privacy_policy_id: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    accepted_privacy_policy_id__in: Option<Vec<String>>,
    #[schema(nullable = false, max_items = 100)]
    accepted_privacy_policy_id__contains: Option<Vec<String>>,
    #[schema(nullable = false)]
    last_login_city: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    last_login_city__in: Option<Vec<String>>,
    #[schema(nullable = false, max_items = 100)]
    last_login_city__contains: Option<Vec<String>>,
    #[schema(nullable = false)]
    last_login_country: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    last_login_country__in: Option<Vec<String>>,
    #[schema(nullable = false, max_items = 100)]
    last_login_country__contains: Option<Vec<String>>,
}

/// A parsed listing request.
pub struct Listing {
    pub query: UserQuery,
    /// What a cursor of this listing must carry (hash of filter and order).
    pub binding: String,
    /// The total counted for the first page, carried by the cursor.
    pub total: Option<u64>,
}

/// Reads `filter`, `order`, `order_by`, `size` and `last`; problems are recorded
/// in `body`.
pub fn parse_user_query(body: &mut Body) -> Listing {
    let filter = body.object("filter", false).unwrap_or_default();
    let conditions = parse_filter(body, &filter);
    let order = paging::order(body);
    let by_name = body.string("order_by");
    let by = match by_name.as_deref() {
        None => UserOrder::CreatedAt,
        Some(n) => order_by(n).unwrap_or_else(|| {
            body.error(
                "NotEnumMember",
                "/order_by",
                "'order_by' is not a sortable field",
            );
            UserOrder::CreatedAt
        }),
    };
    let size = paging::size(body);
    let binding = paging::binding(
        json!({"e": "user", "f": filter, "o": format!("{order:?}"), "b": format!("{by:?}")}),
    );
    let cursor = paging::last(body, &binding);
    let (after, total) = match cursor {
        Some(c) => (
            Some(After {
                key: c.key,
                id: c.id,
            }),
            Some(c.total),
        ),
        None => (None, None),
    };
    let query = UserQuery {
        conditions,
        order_by: by,
        order,
        size,
        after,
        skip_total: total.is_some(),
    };
    Listing {
        query,
        binding,
        total,
    }
}

/// The cursor continuing after `last` in the listing's order; it carries the
/// listing's total so later pages need not count again.
pub fn cursor_after(listing: &Listing, total: u64, last: &User) -> String {
    let query = &listing.query;
    let key = match query.order_by {
        UserOrder::Id => Some(Q::Id(last.id)),
        UserOrder::CreatedAt => Some(Q::Time(last.created_at)),
        UserOrder::LastLoginAt => last.last_login_at.map(Q::Time),
        UserOrder::LastLoginIp => last.last_login_ip.clone().map(Q::Text),
        UserOrder::LoginCount => Some(Q::Int(last.login_count)),
        UserOrder::Email => last.email.as_ref().map(|e| Q::Text(e.as_str().to_owned())),
    };
    let cursor = paging::Cursor {
        key,
        id: last.id,
        total,
        owner: None,
    };
    paging::encode(&listing.binding, &cursor)
}
