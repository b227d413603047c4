//! The reference model of `query_users`: a population of users with NULL keys,
//! ties and hostile characters, and the filters and orders evaluated in Rust.

use std::cmp::Ordering;

use aegis_core::query::{Condition, Order, UserField, UserOrder, Value};
use aegis_core::user::User;
use aegis_core::Store;
use uuid::Uuid;

use crate::fixtures::{new_user, t};

use Condition::{Contains, Eq, Gt, Gte, In, Lt, Lte, Never, SecondFactor};
use UserField as F;

/// Usernames and emails; `%`, `_`, `\`, quotes next to names an unescaped
/// pattern would also match (`under_1`/`underx1`, `back\slash`/`backslash`).
pub const PEOPLE: &[(&str, Option<&str>)] = &[
    ("alice", Some("alice@example.com")),
    ("bob", Some("bob@example.org")),
    ("carol", None),
    ("dave", Some("dave@example.com")),
    ("erin", None),
    ("frank", Some("frank@sub.example.com")),
    ("grace", Some("grace@example.com")),
    ("heidi", None),
    ("ivan", Some("ivan@example.net")),
    ("judy", Some("judy@example.com")),
    ("pct%1", Some("p%c@example.com")),
    ("under_1", Some("u_x@example.com")),
    ("underx1", None),
    (r"back\slash", Some(r"b\s@example.org")),
    ("backslash", None),
    ("quote'1", None),
    ("dq\"1", Some("d\"q@example.com")),
    ("mallory", Some("mallory@example.com")),
    ("niaj", None),
    ("olivia", Some("olivia@example.com")),
    ("peggy", Some("peggy@example.com")),
    ("rupert", None),
    ("sybil", Some("sybil@example.com")),
    ("trent", Some("trent@example.com")),
    ("victor", Some("victor@example.com")),
    ("walter", None),
];

const IPS: [Option<&str>; 5] = [
    None,
    Some("192.0.2.1"),
    Some("2001:db8::1"),
    Some("192.0.2.10"),
    Some("10.0.0.%"),
];

/// Inserts `PEOPLE` with tied creation times, random ids (so id order is not
/// creation order), some never logged in, tied login times, counts and
/// addresses; returns them as stored.
pub async fn populate(s: &dyn Store) -> Vec<User> {
    let mut users = Vec::new();
    for (i, (name, email)) in PEOPLE.iter().enumerate() {
        let mut new = new_user(name, *email);
        new.id = Uuid::new_v4();
        new.created_at = t((i as i64 * 7) % 5);
        new.active = i % 3 != 1;
        new.verified = i % 2 == 0;
        s.insert_user(&new).await.unwrap();
        if i % 4 != 3 {
            for j in 0..(i % 3) as i64 {
                s.record_login(new.id, t(1000 + j), Some("198.51.100.1"))
                    .await
                    .unwrap();
            }
            s.record_login(new.id, t(2000 + (i % 4) as i64), IPS[i % 5])
                .await
                .unwrap();
        }
        users.push(s.get_user(new.id).await.unwrap());
    }
    users
}

/// The value of a field as the filters see it.
fn field(u: &User, f: UserField) -> Option<Value> {
    match f {
        F::Id => Some(Value::Id(u.id)),
        F::Email => Some(Value::Text(
            u.email.as_ref().map_or("", |e| e.as_str()).to_owned(),
        )),
        F::Username => Some(Value::Text(u.username.as_str().to_owned())),
        F::CreatedAt => Some(Value::Time(u.created_at)),
        F::LastLoginAt => u.last_login_at.map(Value::Time),
        F::LastLoginIp => u.last_login_ip.clone().map(Value::Text),
        F::LoginCount => Some(Value::Int(u.login_count)),
        F::Disabled => Some(Value::Bool(!u.active)),
        F::Verified => Some(Value::Bool(u.verified)),
    }
}

fn cmp_value(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Text(a), Value::Text(b)) => a.cmp(b),
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Time(a), Value::Time(b)) => a.cmp(b),
        (Value::Id(a), Value::Id(b)) => a.cmp(b),
        _ => panic!("comparing {a:?} with {b:?}"),
    }
}

/// The reference semantics of one condition.
fn matches(u: &User, c: &Condition) -> bool {
    let range = |f: UserField, v: &Value, ok: fn(Ordering) -> bool| {
        field(u, f).is_some_and(|x| ok(cmp_value(&x, v)))
    };
    match c {
        Eq(f, v) => field(u, *f).as_ref() == Some(v),
        In(f, vs) => field(u, *f).is_some_and(|x| vs.contains(&x)),
        Gt(f, v) => range(*f, v, Ordering::is_gt),
        Gte(f, v) => range(*f, v, Ordering::is_ge),
        Lt(f, v) => range(*f, v, Ordering::is_lt),
        Lte(f, v) => range(*f, v, Ordering::is_le),
        Contains(f, parts) => {
            let text = match field(u, *f) {
                Some(Value::Text(s)) => s,
                Some(Value::Id(id)) => id.hyphenated().to_string(),
                _ => return false,
            };
            parts.iter().all(|p| text.contains(p.as_str()))
        }
        // The fixture users have no second factors (the HTTP tests cover them).
        SecondFactor(has) => !has,
        Never => false,
    }
}

/// The sort key of a user (`None` when NULL), as a dialect puts it in a cursor.
pub fn key(u: &User, by: UserOrder) -> Option<Value> {
    match by {
        UserOrder::Id => Some(Value::Id(u.id)),
        UserOrder::CreatedAt => Some(Value::Time(u.created_at)),
        UserOrder::LastLoginAt => u.last_login_at.map(Value::Time),
        UserOrder::LastLoginIp => u.last_login_ip.clone().map(Value::Text),
        UserOrder::LoginCount => Some(Value::Int(u.login_count)),
        UserOrder::Email => u.email.as_ref().map(|e| Value::Text(e.as_str().to_owned())),
    }
}

/// The reference order: key then id; NULL keys last ascending; descending is
/// ascending reversed.
fn order_cmp(a: &User, b: &User, by: UserOrder, dir: Order) -> Ordering {
    let asc = match (key(a, by), key(b, by)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => cmp_value(&x, &y),
    }
    .then(a.id.cmp(&b.id));
    match dir {
        Order::Asc => asc,
        Order::Desc => asc.reverse(),
    }
}

pub fn expected(users: &[User], conds: &[Condition], by: UserOrder, dir: Order) -> Vec<User> {
    let mut out: Vec<User> = users
        .iter()
        .filter(|u| conds.iter().all(|c| matches(u, c)))
        .cloned()
        .collect();
    out.sort_by(|a, b| order_cmp(a, b, by, dir));
    out
}
