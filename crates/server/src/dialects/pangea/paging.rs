//! What every Pangea listing shares (spec §3.8): `order`, `size`, and the
//! opaque keyset cursor `last`, which carries the last item's sort key and id,
//! the total counted for the first page, and a hash binding it to the listing's
//! endpoint, filter and order (a cursor used elsewhere is a `BadFormat /last`).

use aegis_core::query::{Order, Value as Q};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::body::Body;

/// Page size when none is asked for.
pub const DEFAULT_SIZE: u32 = 20;
/// Larger sizes are clamped to this.
pub const MAX_SIZE: u32 = 1000;

/// Reads `order` (`asc` by default); returns it and the raw text for binding.
pub fn order(body: &mut Body) -> Order {
    match body.string("order").as_deref() {
        None | Some("asc") => Order::Asc,
        Some("desc") => Order::Desc,
        Some(_) => {
            body.error("NotEnumMember", "/order", "'order' must be 'asc' or 'desc'");
            Order::Asc
        }
    }
}

/// Reads `size`: at least 1 (else `NotWithinRange`), clamped to 1000.
pub fn size(body: &mut Body) -> u32 {
    match body.integer("size") {
        None => DEFAULT_SIZE,
        Some(n) if n < 1 => {
            body.error("NotWithinRange", "/size", "'size' must be at least 1");
            DEFAULT_SIZE
        }
        Some(n) => u32::try_from(n.min(i64::from(MAX_SIZE))).unwrap_or(MAX_SIZE),
    }
}

/// The binding of a listing: a short hash of what its cursors must match.
pub fn binding(canon: Value) -> String {
    Sha256::digest(canon.to_string().as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where a page ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub key: Option<Q>,
    pub id: Uuid,
    /// The first page's total.
    pub total: u64,
    /// For client listings: whose listing it is.
    pub owner: Option<Uuid>,
}

fn key_json(k: &Option<Q>) -> Value {
    match k {
        None => Value::Null,
        Some(Q::Text(s)) => json!({"s": s}),
        Some(Q::Int(n)) => json!({"n": n}),
        Some(Q::Bool(b)) => json!({"b": b}),
        Some(Q::Time(t)) => json!({"t": t.timestamp_micros()}),
        Some(Q::Id(id)) => json!({"u": id}),
    }
}

fn key_from(v: &Value) -> Option<Option<Q>> {
    if v.is_null() {
        return Some(None);
    }
    let (k, v) = v.as_object()?.iter().next()?;
    Some(Some(match k.as_str() {
        // No stored text holds a NUL: a key with one was not made here (and
        // PostgreSQL cannot compare it).
        "s" => Q::Text(v.as_str().filter(|s| !s.contains('\0'))?.to_owned()),
        "n" => Q::Int(v.as_i64()?),
        "b" => Q::Bool(v.as_bool()?),
        "t" => Q::Time(Utc.timestamp_micros(v.as_i64()?).single()?),
        "u" => Q::Id(Uuid::parse_str(v.as_str()?).ok()?),
        _ => return None,
    }))
}

/// The opaque text of a cursor.
pub fn encode(binding: &str, c: &Cursor) -> String {
    let mut v = json!({"h": binding, "k": key_json(&c.key), "i": c.id, "c": c.total});
    if let Some(o) = c.owner {
        v["o"] = json!(o);
    }
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode(text: &str, binding: &str) -> Option<Cursor> {
    let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    if v.get("h")?.as_str()? != binding {
        return None;
    }
    let owner = match v.get("o") {
        None => None,
        Some(o) => Some(Uuid::parse_str(o.as_str()?).ok()?),
    };
    Some(Cursor {
        key: key_from(v.get("k")?)?,
        id: Uuid::parse_str(v.get("i")?.as_str()?).ok()?,
        total: v.get("c")?.as_u64()?,
        owner,
    })
}

/// Reads `last`: none, or a cursor of this listing (else `BadFormat /last`).
pub fn last(body: &mut Body, binding: &str) -> Option<Cursor> {
    let text = body.string("last").filter(|s| !s.is_empty())?;
    let cursor = decode(&text, binding);
    if cursor.is_none() {
        body.error(
            "BadFormat",
            "/last",
            "'last' is not a cursor of this listing",
        );
    }
    cursor
}

/// `order` (spec §3.8), as the OpenAPI document shows it: `asc` (the default)
/// or `desc`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = PangeaOrder)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum OrderName {
    Asc,
    Desc,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bind() {
        let c = Cursor {
            key: Some(Q::Time(
                Utc.timestamp_micros(1_700_000_000_123_456)
                    .single()
                    .unwrap(),
            )),
            id: Uuid::now_v7(),
            total: 42,
            owner: Some(Uuid::now_v7()),
        };
        let text = encode("abc", &c);
        assert_eq!(decode(&text, "abc"), Some(c.clone()));
        assert_eq!(decode(&text, "abd"), None);
        assert_eq!(decode("garbage", "abc"), None);
        let nul = Cursor {
            key: Some(Q::Text("a\u{0}".into())),
            ..c
        };
        assert_eq!(decode(&encode("abc", &nul), "abc"), None);
    }
}
