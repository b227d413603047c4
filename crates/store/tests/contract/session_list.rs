//! `query_sessions`: only live sessions, each with its user; every order in
//! both directions walked page by page; filters and totals — checked against a
//! reference model evaluated in Rust over the stored sessions.

use std::cmp::Ordering;
use std::sync::Arc;

use aegis_core::query::{After, Order, Value};
use aegis_core::session::{Session, SessionCondition, SessionField, SessionOrder, SessionQuery};
use aegis_core::user::User;
use aegis_core::{Error, Store};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::fixtures::{new_user, refresh_token, t};

use SessionCondition::{Contains, Eq, Gt, Gte, In, Lt, Lte, Never};
use SessionField as F;

/// The instant the listings are made at.
fn now() -> DateTime<Utc> {
    t(1000)
}

type Listed = (Session, User);

/// Six users (two without an email), each with six sessions: four live (two
/// sharing a creation time), one revoked, one expired before [`now`]. Returns
/// the live ones.
async fn populate(s: &dyn Store) -> Vec<Listed> {
    let people = [
        ("ann", Some("ann@example.com")),
        ("bob", None),
        ("cyd", Some("cyd@example.org")),
        ("dee", Some("dee@example.com")),
        ("eve", None),
        ("fay", Some("fay@example.com")),
    ];
    let mut live = Vec::new();
    for (k, (name, email)) in people.into_iter().enumerate() {
        let user = s.insert_user(&new_user(name, email)).await.unwrap();
        let k = k as i64;
        for j in 0..6i64 {
            let session = Session {
                id: Uuid::now_v7(),
                user_id: user.id,
                // Creation times repeat across users and within one.
                created_at: t((j * 7 + k * 3) % 20 - if j == 1 { 2 } else { 0 }),
                expires_at: if j == 4 {
                    t(999)
                } else {
                    t(2000 + (j * 5 + k) % 9)
                },
                revoked_at: None,
                second_factor: j == 3,
                client_id: None,
                scopes: Vec::new(),
                parent_id: None,
            };
            s.insert_session(&session, &refresh_token(session.id))
                .await
                .unwrap();
            if j == 5 {
                assert!(s.revoke_session(session.id, t(30)).await.unwrap());
            } else if j != 4 {
                live.push((session, user.clone()));
            }
        }
    }
    live
}

fn email(u: &User) -> Option<&str> {
    u.email.as_ref().map(|e| e.as_str())
}

/// The listing order of two sessions, ascending (emails missing last).
fn compare(by: SessionOrder, a: &Listed, b: &Listed) -> Ordering {
    let key = match by {
        SessionOrder::Id => Ordering::Equal,
        SessionOrder::CreatedAt => a.0.created_at.cmp(&b.0.created_at),
        SessionOrder::Identity => a.0.user_id.cmp(&b.0.user_id),
        SessionOrder::Expire => a.0.expires_at.cmp(&b.0.expires_at),
        SessionOrder::Email => match (email(&a.1), email(&b.1)) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
    };
    key.then(a.0.id.cmp(&b.0.id))
}

fn text(v: &Value) -> &str {
    match v {
        Value::Text(s) => s,
        other => panic!("not text: {other:?}"),
    }
}

/// What a field of a listed session compares as.
fn field(f: SessionField, (s, u): &Listed) -> Value {
    match f {
        F::Id => Value::Id(s.id),
        F::Identity => Value::Id(s.user_id),
        F::Email => Value::Text(email(u).unwrap_or("").to_owned()),
        F::Username => Value::Text(u.username.as_str().to_owned()),
        F::CreatedAt => Value::Time(s.created_at),
        F::Expire => Value::Time(s.expires_at),
    }
}

fn order_of(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Time(x), Value::Time(y)) => x.cmp(y),
        (Value::Text(x), Value::Text(y)) => x.cmp(y),
        (Value::Id(x), Value::Id(y)) => x.cmp(y),
        other => panic!("incomparable: {other:?}"),
    }
}

fn matches(c: &SessionCondition, l: &Listed) -> bool {
    match c {
        Eq(f, v) => field(*f, l) == *v,
        In(f, vs) => vs.contains(&field(*f, l)),
        Contains(f, parts) => {
            let v = match field(*f, l) {
                Value::Id(id) => id.to_string(),
                v => text(&v).to_owned(),
            };
            parts.iter().all(|p| v.contains(p.as_str()))
        }
        Gt(f, v) => order_of(&field(*f, l), v).is_gt(),
        Gte(f, v) => order_of(&field(*f, l), v).is_ge(),
        Lt(f, v) => order_of(&field(*f, l), v).is_lt(),
        Lte(f, v) => order_of(&field(*f, l), v).is_le(),
        Never => false,
    }
}

fn expected(live: &[Listed], q: &SessionQuery) -> Vec<Listed> {
    let mut out: Vec<Listed> = live
        .iter()
        .filter(|l| q.user.is_none_or(|u| l.0.user_id == u))
        .filter(|l| q.conditions.iter().all(|c| matches(c, l)))
        .cloned()
        .collect();
    out.sort_by(|a, b| compare(q.order_by, a, b));
    if q.order == Order::Desc {
        out.reverse();
    }
    out
}

/// The cursor after a listed session.
fn after(by: SessionOrder, (s, u): &Listed) -> After {
    let key = match by {
        SessionOrder::Id => Some(Value::Id(s.id)),
        SessionOrder::CreatedAt => Some(Value::Time(s.created_at)),
        SessionOrder::Identity => Some(Value::Id(s.user_id)),
        SessionOrder::Expire => Some(Value::Time(s.expires_at)),
        SessionOrder::Email => email(u).map(|e| Value::Text(e.to_owned())),
    };
    After { key, id: s.id }
}

/// Walks every page; checks each page's size, `more` and total (counted on the
/// first page only, as the dialect asks).
async fn walk(s: &dyn Store, q: &SessionQuery, total: usize) -> Vec<Listed> {
    let mut q = q.clone();
    let mut out = Vec::new();
    for page_no in 0..=total + 1 {
        q.skip_total = page_no > 0;
        let page = s.query_sessions(&q, now()).await.unwrap();
        let want = if page_no == 0 { total as u64 } else { 0 };
        assert_eq!(page.total, want, "{q:?}");
        out.extend(page.items.iter().cloned());
        if !page.more {
            assert_eq!(out.len(), total, "{q:?}");
            return out;
        }
        assert_eq!(page.items.len(), q.size as usize, "a full page before more");
        q.after = Some(after(q.order_by, page.items.last().unwrap()));
    }
    panic!("pages never end: {q:?}");
}

const ORDERS: [SessionOrder; 5] = [
    SessionOrder::Id,
    SessionOrder::CreatedAt,
    SessionOrder::Identity,
    SessionOrder::Email,
    SessionOrder::Expire,
];

fn query(conditions: Vec<SessionCondition>) -> SessionQuery {
    SessionQuery {
        conditions,
        size: 1000,
        ..Default::default()
    }
}

pub async fn sessions_list_only_live_with_their_users(store: Arc<dyn Store>) {
    let s = &*store;
    let live = populate(s).await;
    assert_eq!(live.len(), 24);
    let page = s.query_sessions(&query(vec![]), now()).await.unwrap();
    assert_eq!((page.total, page.more), (24, false));
    assert_eq!(page.items, expected(&live, &query(vec![])));
    // Later, the sessions that expired in between are gone.
    let later = s.query_sessions(&query(vec![]), t(2004)).await.unwrap();
    let still: Vec<_> = live.iter().filter(|l| l.0.expires_at > t(2004)).collect();
    assert!(!still.is_empty() && still.len() < live.len());
    assert_eq!(later.total as usize, still.len());
    // A revoked session leaves the listing at once; one user's sessions only.
    let (gone, owner) = live[5].clone();
    assert!(s.revoke_session(gone.id, t(40)).await.unwrap());
    let q = SessionQuery {
        user: Some(owner.id),
        ..query(vec![])
    };
    let page = s.query_sessions(&q, now()).await.unwrap();
    assert_eq!(page.total, 3);
    assert!(page
        .items
        .iter()
        .all(|(sess, u)| sess.user_id == owner.id && *u == owner && sess.id != gone.id));
    // A user with no live session lists nothing.
    let lone = s.insert_user(&new_user("zed", None)).await.unwrap();
    let q = SessionQuery {
        user: Some(lone.id),
        ..query(vec![])
    };
    let page = s.query_sessions(&q, now()).await.unwrap();
    assert_eq!((page.items.len(), page.total, page.more), (0, 0, false));
}

pub async fn sessions_pages_walk_every_order(store: Arc<dyn Store>) {
    let s = &*store;
    let live = populate(s).await;
    let owner = live[9].1.id;
    for by in ORDERS {
        for order in [Order::Asc, Order::Desc] {
            for user in [None, Some(owner)] {
                let q = SessionQuery {
                    user,
                    order_by: by,
                    order,
                    ..query(vec![])
                };
                let want = expected(&live, &q);
                for size in [1, 2, 5, 1000] {
                    let got = walk(s, &SessionQuery { size, ..q.clone() }, want.len()).await;
                    assert_eq!(got, want, "{by:?} {order:?} size {size} user {user:?}");
                }
            }
        }
    }
    // Descending is ascending reversed, NULL emails included.
    let asc = expected(
        &live,
        &SessionQuery {
            order_by: SessionOrder::Email,
            ..query(vec![])
        },
    );
    assert!(email(&asc.last().unwrap().1).is_none());
    assert!(email(&asc[0].1).is_some());
}

pub async fn sessions_filter_on_every_field(store: Arc<dyn Store>) {
    let s = &*store;
    let live = populate(s).await;
    let (a, b) = (&live[0], &live[13]);
    let time = |secs| Value::Time(t(secs));
    let filters: Vec<Vec<SessionCondition>> = vec![
        vec![Eq(F::Id, Value::Id(a.0.id))],
        vec![In(
            F::Id,
            vec![Value::Id(a.0.id), Value::Id(b.0.id), Value::Id(Uuid::nil())],
        )],
        vec![Eq(F::Identity, Value::Id(b.1.id))],
        vec![In(F::Identity, vec![Value::Id(a.1.id), Value::Id(b.1.id)])],
        vec![Contains(F::Id, vec![a.0.id.to_string()[..8].to_owned()])],
        vec![Eq(F::Email, Value::Text("cyd@example.org".into()))],
        vec![Eq(F::Email, Value::Text(String::new()))],
        vec![In(
            F::Email,
            vec![
                Value::Text("ann@example.com".into()),
                Value::Text(String::new()),
            ],
        )],
        vec![Contains(F::Email, vec!["@example".into(), ".com".into()])],
        vec![Gt(F::Email, Value::Text("cyd".into()))],
        vec![Lte(F::Email, Value::Text("dee@example.com".into()))],
        vec![Eq(F::Username, Value::Text("eve".into()))],
        vec![Contains(F::Username, vec!["e".into()])],
        vec![In(
            F::Username,
            vec![Value::Text("bob".into()), Value::Text("fay".into())],
        )],
        vec![Eq(F::CreatedAt, time(7))],
        vec![Gt(F::CreatedAt, time(7)), Lte(F::CreatedAt, time(15))],
        vec![Gte(F::CreatedAt, time(7)), Lt(F::Expire, time(2004))],
        vec![In(F::CreatedAt, vec![time(0), time(3), time(-2)])],
        vec![
            Gte(F::Expire, time(2005)),
            Contains(F::Email, vec!["example.com".into()]),
        ],
        vec![Lte(F::Expire, time(999))],
        vec![Never],
        vec![In(F::Id, vec![])],
    ];
    for conds in filters {
        for by in [SessionOrder::CreatedAt, SessionOrder::Email] {
            let q = SessionQuery {
                order_by: by,
                size: 3,
                ..query(conds.clone())
            };
            let want = expected(&live, &q);
            let got = walk(s, &q, want.len()).await;
            assert_eq!(got, want, "{conds:?} by {by:?}");
        }
    }
    // Filters apply within one user's sessions too.
    let q = SessionQuery {
        user: Some(a.1.id),
        ..query(vec![Gte(F::CreatedAt, time(3))])
    };
    let want = expected(&live, &q);
    assert!(!want.is_empty());
    assert_eq!(s.query_sessions(&q, now()).await.unwrap().items, want);
}

pub async fn sessions_refuse_unfit_values_and_cursors(store: Arc<dyn Store>) {
    let s = &*store;
    populate(s).await;
    let unfit = |r: aegis_core::Result<_>| match r {
        Err(Error::InvalidField { field, .. }) => field,
        other => panic!("expected InvalidField, got {other:?}"),
    };
    let q = query(vec![Eq(F::CreatedAt, Value::Text("x".into()))]);
    assert_eq!(unfit(s.query_sessions(&q, now()).await), "created_at");
    let q = query(vec![Contains(F::Expire, vec!["1".into()])]);
    assert_eq!(unfit(s.query_sessions(&q, now()).await), "expire");
    let q = SessionQuery {
        order_by: SessionOrder::Expire,
        after: Some(After {
            key: Some(Value::Text("x".into())),
            id: Uuid::nil(),
        }),
        ..query(vec![])
    };
    assert_eq!(unfit(s.query_sessions(&q, now()).await), "last");
}
