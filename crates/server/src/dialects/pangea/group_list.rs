//! `group/list` (spec §7.4): the SDK's `GroupsFilter` operators, every
//! `order_by` of the OAS in both directions, and a keyset cursor bound to the
//! filter and order. Groups are few, so this runs over the whole set in memory.

use std::cmp::Ordering;

use aegis_core::group::Group;
use aegis_core::identity::fold;
use aegis_core::query::{Order, Value as Q};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::body::Body;
use super::envelope::time;
use super::{ids, paging};

/// A sort key: text or a time in microseconds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Text(String),
    Micros(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Id,
    Name,
    Type,
    CreatedAt,
    UpdatedAt,
}

fn key(g: &Group, by: By) -> Key {
    match by {
        By::Id => Key::Text(g.id.to_string()),
        By::Name => Key::Text(fold(&g.name)),
        By::Type => Key::Text(g.kind.clone()),
        By::CreatedAt => Key::Micros(g.created_at.timestamp_micros()),
        By::UpdatedAt => Key::Micros(g.updated_at.timestamp_micros()),
    }
}

type Test = Box<dyn Fn(&Group) -> bool + Send>;

fn text_of(g: &Group, field: &str) -> String {
    match field {
        "id" => ids::encode(ids::GROUP, g.id),
        "name" => fold(&g.name),
        "type" => g.kind.clone(),
        "created_at" => time(g.created_at),
        _ => time(g.updated_at),
    }
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// One filter entry as a predicate, or a validation error code.
fn condition(key: &str, v: &Value) -> Result<Test, &'static str> {
    let (field, op) = key.rsplit_once("__").map_or((key, ""), |(f, o)| (f, o));
    let norm = |f: &str, s: &str| if f == "name" { fold(s) } else { s.to_owned() };
    let field = match field {
        "id" | "name" | "type" | "created_at" | "updated_at" => field.to_owned(),
        _ => return Err("UnexpectedProperty"),
    };
    let timed = field.ends_with("_at");
    let f = field.clone();
    Ok(match op {
        "" if timed => {
            let t = parse_time(v).ok_or("BadFormatDateTime")?;
            Box::new(move |g| {
                if f == "created_at" {
                    g.created_at == t
                } else {
                    g.updated_at == t
                }
            })
        }
        "" => {
            let want = norm(&f, v.as_str().ok_or("InvalidString")?);
            Box::new(move |g| text_of(g, &f) == want)
        }
        "in" if !timed => {
            let want: Vec<String> = strings(v)
                .ok_or("InvalidArray")?
                .iter()
                .map(|s| norm(&f, s))
                .collect();
            Box::new(move |g| want.contains(&text_of(g, &f)))
        }
        "contains" => {
            // Times take one string, text fields a list (each must occur).
            let parts: Vec<String> = if timed {
                vec![v.as_str().ok_or("InvalidString")?.to_owned()]
            } else {
                strings(v)
                    .ok_or("InvalidArray")?
                    .iter()
                    .map(|s| norm(&f, s))
                    .collect()
            };
            Box::new(move |g| {
                let t = text_of(g, &f);
                parts.iter().all(|p| t.contains(p.as_str()))
            })
        }
        "gt" | "gte" | "lt" | "lte" if timed => {
            let t = parse_time(v).ok_or("BadFormatDateTime")?;
            let op = op.to_owned();
            Box::new(move |g| {
                let x = if f == "created_at" {
                    g.created_at
                } else {
                    g.updated_at
                };
                match op.as_str() {
                    "gt" => x > t,
                    "gte" => x >= t,
                    "lt" => x < t,
                    _ => x <= t,
                }
            })
        }
        _ => return Err("UnexpectedProperty"),
    })
}

/// `group/list` `order_by` (spec §7.4).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = PangeaGroupOrderBy)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum GroupOrderBy {
    Id,
    Name,
    Type,
    CreatedAt,
    UpdatedAt,
}

// Mirrors `condition`.
/// `group/list` `filter`: equality, `__in` and
/// `__contains` (each substring must occur) on `id`, `name` (case-insensitive)
/// and `type`; equality, `__contains` (of the RFC 3339 text) and
/// `__gt`/`__gte`/`__lt`/`__lte` on the times.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = PangeaGroupFilter)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, non_snake_case)]
pub struct GroupFilter {
    #[schema(nullable = false)]
    id: Option<String>,
    #[schema(nullable = false)]
    id__in: Option<Vec<String>>,
    #[schema(nullable = false)]
    id__contains: Option<Vec<String>>,
    #[schema(nullable = false)]
    name: Option<String>,
    #[schema(nullable = false)]
    name__in: Option<Vec<String>>,
    #[schema(nullable = false)]
    name__contains: Option<Vec<String>>,
    #[serde(rename = "type")]
    #[schema(nullable = false)]
    kind: Option<String>,
    #[serde(rename = "type__in")]
    #[schema(nullable = false)]
    kind__in: Option<Vec<String>>,
    #[serde(rename = "type__contains")]
    #[schema(nullable = false)]
    kind__contains: Option<Vec<String>>,
    #[schema(nullable = false, format = DateTime)]
    created_at: Option<String>,
    #[schema(nullable = false)]
    created_at__contains: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__gt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__gte: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__lt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__lte: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    updated_at: Option<String>,
    #[schema(nullable = false)]
    updated_at__contains: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    updated_at__gt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    updated_at__gte: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    updated_at__lt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    updated_at__lte: Option<String>,
}

/// A parsed `group/list` request.
pub struct GroupListing {
    tests: Vec<Test>,
    by: By,
    desc: bool,
    pub size: usize,
    after: Option<(Key, Uuid)>,
    /// The total counted for the first page, carried by the cursor.
    pub total: Option<u64>,
    binding: String,
}

/// Reads `filter`, `order`, `order_by`, `size`, `last`; problems go to `body`.
pub fn parse(body: &mut Body) -> GroupListing {
    let filter: Map<String, Value> = body.object("filter", false).unwrap_or_default();
    let mut tests = Vec::new();
    for (k, v) in &filter {
        match condition(k, v) {
            Ok(t) => tests.push(t),
            Err(code) => body.error(code, format!("/filter/{k}"), format!("bad filter '{k}'")),
        }
    }
    let order = paging::order(body);
    let desc = order == Order::Desc;
    let order_by = body.string("order_by");
    let by = match order_by.as_deref() {
        None | Some("name") => By::Name,
        Some("id") => By::Id,
        Some("type") => By::Type,
        Some("created_at") => By::CreatedAt,
        Some("updated_at") => By::UpdatedAt,
        Some(_) => {
            body.error(
                "NotEnumMember",
                "/order_by",
                "'order_by' must be id, created_at, updated_at, name or type",
            );
            By::Name
        }
    };
    let size = paging::size(body) as usize;
    let binding = paging::binding(
        json!({"e": "group", "f": filter, "o": format!("{order:?}"), "b": format!("{by:?}")}),
    );
    let cursor = paging::last(body, &binding);
    let (after, total) = match cursor {
        Some(c) => match c.key {
            Some(Q::Text(t)) => (Some((Key::Text(t), c.id)), Some(c.total)),
            Some(Q::Time(t)) => (
                Some((Key::Micros(t.timestamp_micros()), c.id)),
                Some(c.total),
            ),
            _ => {
                body.error(
                    "BadFormat",
                    "/last",
                    "'last' is not a cursor of this listing",
                );
                (None, None)
            }
        },
        None => (None, None),
    };
    GroupListing {
        tests,
        by,
        desc,
        size,
        after,
        total,
        binding,
    }
}

impl GroupListing {
    /// The page of `groups`, the total, and the cursor to the next page.
    pub fn page(&self, groups: Vec<Group>) -> (Vec<Group>, u64, Option<String>) {
        let mut matched: Vec<(Key, Group)> = groups
            .into_iter()
            .filter(|g| self.tests.iter().all(|t| t(g)))
            .map(|g| (key(&g, self.by), g))
            .collect();
        let total = self.total.unwrap_or(matched.len() as u64);
        let cmp = |a: &(Key, Uuid), b: &(Key, Uuid)| {
            let o = a.cmp(b);
            if self.desc {
                o.reverse()
            } else {
                o
            }
        };
        matched.sort_by(|a, b| cmp(&(a.0.clone(), a.1.id), &(b.0.clone(), b.1.id)));
        let start = match &self.after {
            Some(after) => matched
                .iter()
                .position(|(k, g)| cmp(&(k.clone(), g.id), after) == Ordering::Greater)
                .unwrap_or(matched.len()),
            None => 0,
        };
        let rest = &matched[start..];
        let page: Vec<Group> = rest
            .iter()
            .take(self.size)
            .map(|(_, g)| g.clone())
            .collect();
        let next = (rest.len() > self.size).then(|| {
            let (k, g) = &rest[self.size - 1];
            let key = match k {
                Key::Text(s) => Q::Text(s.clone()),
                Key::Micros(t) => Q::Time(Utc.timestamp_micros(*t).single().unwrap_or_default()),
            };
            let cursor = paging::Cursor {
                key: Some(key),
                id: g.id,
                total,
                owner: None,
            };
            paging::encode(&self.binding, &cursor)
        });
        (page, total, next)
    }
}
