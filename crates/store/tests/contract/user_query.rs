//! `query_users`: filters, orders and keyset pages, checked against a reference
//! model evaluated in Rust over the stored users.

use std::sync::Arc;

use aegis_core::query::{After, Condition, Order, UserField, UserOrder, UserQuery, Value};
use aegis_core::user::User;
use aegis_core::{Error, Store};
use uuid::Uuid;

use crate::fixtures::t;
use crate::reference::{expected, key, populate, PEOPLE};

use Condition::{Contains, Eq, Gt, Gte, In, Lt, Lte, Never};
use UserField as F;

fn query(conds: &[Condition], by: UserOrder, dir: Order, size: u32) -> UserQuery {
    UserQuery {
        conditions: conds.to_vec(),
        order_by: by,
        order: dir,
        size,
        after: None,
        skip_total: false,
    }
}

/// Walks every page with cursors; checks totals, page sizes and `more`.
async fn walk(s: &dyn Store, q: UserQuery, total: usize) -> Vec<User> {
    let mut q = q;
    let mut out = Vec::new();
    for _ in 0..=PEOPLE.len() + 1 {
        let page = s.query_users(&q).await.unwrap();
        assert_eq!(page.total, total as u64, "{q:?}");
        assert!(page.items.len() <= q.size as usize);
        out.extend(page.items.iter().cloned());
        if !page.more {
            assert_eq!(out.len(), total, "{q:?}");
            return out;
        }
        assert_eq!(page.items.len(), q.size as usize, "a full page before more");
        let last = page.items.last().unwrap();
        q.after = Some(After {
            key: key(last, q.order_by),
            id: last.id,
        });
    }
    panic!("pages never end: {q:?}");
}

const ORDERS: [UserOrder; 6] = [
    UserOrder::Id,
    UserOrder::CreatedAt,
    UserOrder::LastLoginAt,
    UserOrder::LastLoginIp,
    UserOrder::LoginCount,
    UserOrder::Email,
];

pub async fn pages_walk_every_user_once(store: Arc<dyn Store>) {
    let s = &*store;
    let users = populate(s).await;
    let filters: [Vec<Condition>; 3] = [
        vec![],
        vec![
            Eq(F::Disabled, Value::Bool(false)),
            Contains(F::Email, vec!["@example.com".into()]),
        ],
        vec![Gte(F::LoginCount, Value::Int(2))],
    ];
    for conds in &filters {
        for by in ORDERS {
            let asc = expected(&users, conds, by, Order::Asc);
            let desc = expected(&users, conds, by, Order::Desc);
            assert!(!asc.is_empty());
            for size in [1, 2, 3, 7, 1000] {
                let got = walk(s, query(conds, by, Order::Asc, size), asc.len()).await;
                assert_eq!(got, asc, "{by:?} asc, size {size}, {conds:?}");
                let got = walk(s, query(conds, by, Order::Desc, size), desc.len()).await;
                assert_eq!(got, desc, "{by:?} desc, size {size}, {conds:?}");
            }
            let mut reversed = asc.clone();
            reversed.reverse();
            assert_eq!(desc, reversed, "desc is asc reversed");
        }
    }
}

pub async fn null_keys_sort_last_and_resume(store: Arc<dyn Store>) {
    let s = &*store;
    let users = populate(s).await;
    let never = users.iter().filter(|u| u.last_login_at.is_none()).count();
    let no_email = users.iter().filter(|u| u.email.is_none()).count();
    assert!(never >= 2 && no_email >= 2);

    // Ascending: the users that never logged in come last, by id.
    let all = s
        .query_users(&query(&[], UserOrder::LastLoginAt, Order::Asc, 1000))
        .await
        .unwrap();
    let tail = &all.items[all.items.len() - never..];
    assert!(tail.iter().all(|u| u.last_login_at.is_none()));
    assert!(tail.windows(2).all(|w| w[0].id < w[1].id));
    // Descending: first, by id descending.
    let all = s
        .query_users(&query(&[], UserOrder::Email, Order::Desc, 1000))
        .await
        .unwrap();
    let head = &all.items[..no_email];
    assert!(head.iter().all(|u| u.email.is_none()));
    assert!(head.windows(2).all(|w| w[0].id > w[1].id));

    // A cursor on a NULL key resumes inside the NULLs, in both directions; an
    // email of "" is the same cursor as none.
    for dir in [Order::Asc, Order::Desc] {
        let list = expected(&users, &[], UserOrder::Email, dir);
        let at = list.iter().position(|u| u.email.is_none()).unwrap() + 1;
        let pivot = &list[at];
        assert!(pivot.email.is_none(), "two users without email in a row");
        for k in [None, Some(Value::Text(String::new()))] {
            let mut q = query(&[], UserOrder::Email, dir, 1000);
            q.after = Some(After {
                key: k,
                id: pivot.id,
            });
            let page = s.query_users(&q).await.unwrap();
            assert_eq!(page.items, list[at + 1..], "{dir:?}");
            assert_eq!(page.total, users.len() as u64);
            assert!(!page.more);
        }
    }
    // A NULL cursor on a key that is never NULL: past everything ascending,
    // before everything descending.
    let mut q = query(&[], UserOrder::CreatedAt, Order::Asc, 5);
    q.after = Some(After {
        key: None,
        id: Uuid::nil(),
    });
    let page = s.query_users(&q).await.unwrap();
    assert!(page.items.is_empty() && !page.more);
    q.order = Order::Desc;
    let page = s.query_users(&q).await.unwrap();
    assert_eq!(
        page.items,
        expected(&users, &[], UserOrder::CreatedAt, Order::Desc)[..5]
    );
    // A cursor on a user deleted meanwhile still resumes where it was.
    let list = expected(&users, &[], UserOrder::LastLoginIp, Order::Asc);
    s.delete_user(list[4].id, aegis_core::store::AdminGuard::Off)
        .await
        .unwrap();
    let mut q = query(&[], UserOrder::LastLoginIp, Order::Asc, 3);
    q.after = Some(After {
        key: key(&list[4], UserOrder::LastLoginIp),
        id: list[4].id,
    });
    assert_eq!(s.query_users(&q).await.unwrap().items, list[5..8]);
}

/// Checks one filter against the reference; returns how many users match.
async fn check(s: &dyn Store, users: &[User], conds: &[Condition]) -> usize {
    let want = expected(users, conds, UserOrder::CreatedAt, Order::Asc);
    let page = s
        .query_users(&query(conds, UserOrder::CreatedAt, Order::Asc, 1000))
        .await
        .unwrap();
    assert_eq!(page.items, want, "{conds:?}");
    assert_eq!(page.total, want.len() as u64, "{conds:?}");
    assert!(!page.more);
    want.len()
}

pub async fn every_operator_on_every_field(store: Arc<dyn Store>) {
    let s = &*store;
    let users = populate(s).await;
    let n = users.len();
    let u = &users[5];
    let text = |v: &str| Value::Text(v.to_owned());
    let id = Value::Id(u.id);
    let conds: Vec<Condition> = vec![
        // Id
        Eq(F::Id, id.clone()),
        In(
            F::Id,
            vec![id.clone(), Value::Id(users[9].id), Value::Id(Uuid::nil())],
        ),
        Gt(F::Id, id.clone()),
        Gte(F::Id, id.clone()),
        Lt(F::Id, id.clone()),
        Lte(F::Id, id.clone()),
        Contains(F::Id, vec![u.id.hyphenated().to_string()[9..18].to_owned()]),
        // Email ("" when none)
        Eq(F::Email, text("dave@example.com")),
        Eq(F::Email, text("")),
        In(
            F::Email,
            vec![text("dave@example.com"), text("bob@example.org")],
        ),
        In(F::Email, vec![text("dave@example.com"), text("")]),
        Gt(F::Email, text("judy@example.com")),
        Gte(F::Email, text("judy@example.com")),
        Lt(F::Email, text("d")),
        Lte(F::Email, text("")),
        Contains(F::Email, vec!["@example.".into(), "r".into()]),
        Contains(F::Email, vec![String::new()]),
        // Username
        Eq(F::Username, text("carol")),
        In(
            F::Username,
            vec![text("carol"), text("erin"), text("nobody")],
        ),
        Gt(F::Username, text("p")),
        Lte(F::Username, text("dave")),
        Contains(F::Username, vec!["a".into(), "e".into()]),
        // Times, NULLs never match
        Eq(F::CreatedAt, Value::Time(t(2))),
        In(F::CreatedAt, vec![Value::Time(t(0)), Value::Time(t(4))]),
        Gt(F::CreatedAt, Value::Time(t(2))),
        Lte(F::CreatedAt, Value::Time(t(1))),
        Eq(F::LastLoginAt, Value::Time(t(2001))),
        Gte(F::LastLoginAt, Value::Time(t(2002))),
        Lt(F::LastLoginAt, Value::Time(t(2002))),
        // Addresses
        Eq(F::LastLoginIp, text("192.0.2.1")),
        In(F::LastLoginIp, vec![text("2001:db8::1"), text("10.0.0.%")]),
        Gt(F::LastLoginIp, text("192.0.2.1")),
        Contains(F::LastLoginIp, vec!["192.0.2.1".into()]),
        Contains(F::LastLoginIp, vec![String::new()]),
        // Counts
        Eq(F::LoginCount, Value::Int(0)),
        In(F::LoginCount, vec![Value::Int(1), Value::Int(3)]),
        Gt(F::LoginCount, Value::Int(1)),
        Lt(F::LoginCount, Value::Int(2)),
        Gte(F::LoginCount, Value::Int(3)),
        Lte(F::LoginCount, Value::Int(0)),
        // Flags
        Eq(F::Disabled, Value::Bool(true)),
        Eq(F::Disabled, Value::Bool(false)),
        In(F::Disabled, vec![Value::Bool(true), Value::Bool(false)]),
        Eq(F::Verified, Value::Bool(true)),
        In(F::Verified, vec![Value::Bool(false)]),
        // Empty lists
        In(F::Username, vec![]),
        Contains(F::Username, vec![]),
    ];
    let mut partial = 0;
    for cond in &conds {
        let got = check(s, &users, std::slice::from_ref(cond)).await;
        if got > 0 && got < n {
            partial += 1;
        }
    }
    assert!(partial >= conds.len() - 6, "most conditions select a part");

    // Hand-counted, so that the reference model is checked too.
    assert_eq!(check(s, &users, &[Eq(F::Email, text(""))]).await, 9);
    assert_eq!(
        check(s, &users, &[Contains(F::Email, vec![String::new()])]).await,
        n
    );
    assert_eq!(
        check(s, &users, &[Eq(F::LoginCount, Value::Int(0))]).await,
        6
    );
    assert_eq!(check(s, &users, &[In(F::Username, vec![])]).await, 0);
    assert_eq!(check(s, &users, &[Contains(F::Username, vec![])]).await, n);

    // Conditions are ANDed.
    let both = [
        Eq(F::Disabled, Value::Bool(false)),
        Eq(F::Verified, Value::Bool(true)),
        Contains(F::Email, vec!["@example.com".into()]),
        Gte(F::LoginCount, Value::Int(1)),
    ];
    let got = check(s, &users, &both).await;
    assert!(got > 0 && got < check(s, &users, &both[..1]).await);
}

pub async fn hostile_substrings_are_literal(store: Arc<dyn Store>) {
    let s = &*store;
    let users = populate(s).await;
    let names = |conds: &[Condition]| {
        let mut names: Vec<String> = expected(&users, conds, UserOrder::Id, Order::Asc)
            .iter()
            .map(|u| u.username.as_str().to_owned())
            .collect();
        names.sort();
        names
    };
    let cases: [(UserField, &str, &[&str]); 11] = [
        (F::Username, "%", &["pct%1"]),
        (F::Username, "_", &["under_1"]),
        (F::Username, "r_1", &["under_1"]),
        (F::Username, r"\", &[r"back\slash"]),
        (F::Username, r"k\s", &[r"back\slash"]),
        (F::Username, "'", &["quote'1"]),
        (F::Username, "\"", &["dq\"1"]),
        (F::Email, "p%c", &["pct%1"]),
        (F::Email, "u_x", &["under_1"]),
        (F::Email, r"b\s", &[r"back\slash"]),
        (F::Email, "d\"q", &["dq\"1"]),
    ];
    for (f, part, want) in cases {
        let conds = [Contains(f, vec![part.to_owned()])];
        let page = s
            .query_users(&query(&conds, UserOrder::Id, Order::Asc, 1000))
            .await
            .unwrap();
        let mut got: Vec<&str> = page.items.iter().map(|u| u.username.as_str()).collect();
        got.sort();
        assert_eq!(got, want, "{f:?} contains {part:?}");
        assert_eq!(got, names(&conds), "{f:?} contains {part:?}");
    }
    // Quotes and SQL in values are data.
    for hostile in ["'; DROP TABLE users; --", "' OR '1'='1", "\\'", "%_%"] {
        for f in [F::Username, F::Email, F::LastLoginIp] {
            assert_eq!(
                check(s, &users, &[Eq(f, Value::Text(hostile.into()))]).await,
                0
            );
            assert_eq!(
                check(s, &users, &[Contains(f, vec![hostile.into()])]).await,
                0
            );
        }
    }
    assert_eq!(
        check(s, &users, &[]).await,
        PEOPLE.len(),
        "every user is still there"
    );
    // The address with a `%` matches itself only.
    let ip = [Eq(F::LastLoginIp, Value::Text("10.0.0.%".into()))];
    let with_percent = check(s, &users, &ip).await;
    assert!(with_percent > 0);
    for part in [".%", "0.%", "10.0.0.%"] {
        let conds = [Contains(F::LastLoginIp, vec![part.into()])];
        assert_eq!(check(s, &users, &conds).await, with_percent, "{part}");
    }
}

pub async fn never_and_unfit_values(store: Arc<dyn Store>) {
    let s = &*store;
    populate(s).await;
    for conds in [
        vec![Never],
        vec![Eq(F::Disabled, Value::Bool(false)), Never],
    ] {
        for by in ORDERS {
            let page = s
                .query_users(&query(&conds, by, Order::Desc, 10))
                .await
                .unwrap();
            assert!(page.items.is_empty() && !page.more && page.total == 0);
        }
    }

    let invalid = |r: aegis_core::Result<aegis_core::query::Page<User>>| match r {
        Err(Error::InvalidField { field, .. }) => field,
        other => panic!("expected InvalidField, got {other:?}"),
    };
    let bad = [
        (Eq(F::LoginCount, Value::Text("1".into())), "login_count"),
        (Eq(F::Email, Value::Int(1)), "email"),
        (Eq(F::Id, Value::Text("x".into())), "id"),
        (
            In(F::Verified, vec![Value::Bool(true), Value::Int(1)]),
            "verified",
        ),
        (Gt(F::Disabled, Value::Bool(true)), "disabled"),
        (Lt(F::CreatedAt, Value::Int(0)), "created_at"),
        (
            Gte(F::LastLoginAt, Value::Text("yesterday".into())),
            "last_login_at",
        ),
        (Contains(F::LoginCount, vec!["1".into()]), "login_count"),
        (Contains(F::CreatedAt, vec!["2026".into()]), "created_at"),
        (Eq(F::LastLoginIp, Value::Bool(true)), "last_login_ip"),
    ];
    for (cond, field) in bad {
        // Wrong even next to Never.
        let conds = [Never, cond];
        let r = s
            .query_users(&query(&conds, UserOrder::Id, Order::Asc, 10))
            .await;
        assert_eq!(invalid(r), field);
    }
    let mut q = query(&[], UserOrder::LoginCount, Order::Asc, 10);
    q.after = Some(After {
        key: Some(Value::Text("3".into())),
        id: Uuid::nil(),
    });
    assert_eq!(invalid(s.query_users(&q).await), "last");
}

pub async fn page_and_total(store: Arc<dyn Store>) {
    let s = &*store;
    let empty = s
        .query_users(&query(&[], UserOrder::CreatedAt, Order::Asc, 20))
        .await
        .unwrap();
    assert!(empty.items.is_empty() && empty.total == 0 && !empty.more);

    let users = populate(s).await;
    let n = users.len();
    let conds = [Eq(F::Verified, Value::Bool(true))];
    let verified = expected(&users, &conds, UserOrder::LoginCount, Order::Desc);
    let mut q = query(&conds, UserOrder::LoginCount, Order::Desc, 4);
    let first = s.query_users(&q).await.unwrap();
    assert_eq!(first.items, verified[..4]);
    assert_eq!(first.total, verified.len() as u64);
    assert!(first.more);
    // The total ignores the cursor.
    let last = &first.items[3];
    q.after = Some(After {
        key: key(last, UserOrder::LoginCount),
        id: last.id,
    });
    let second = s.query_users(&q).await.unwrap();
    assert_eq!(second.items, verified[4..8]);
    assert_eq!(second.total, verified.len() as u64);
    // Without the count: the same page, no total.
    q.skip_total = true;
    let uncounted = s.query_users(&q).await.unwrap();
    assert_eq!(
        (uncounted.items, uncounted.total),
        (verified[4..8].to_vec(), 0)
    );
    q.skip_total = false;

    // A page exactly as large as what is left has no `more`.
    q.size = u32::try_from(verified.len() - 4).unwrap();
    let rest = s.query_users(&q).await.unwrap();
    assert_eq!(rest.items, verified[4..]);
    assert!(!rest.more);
    let all = s
        .query_users(&query(
            &[],
            UserOrder::Id,
            Order::Asc,
            u32::try_from(n).unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!((all.items.len(), all.total, all.more), (n, n as u64, false));
    let all = s
        .query_users(&query(
            &[],
            UserOrder::Id,
            Order::Asc,
            u32::try_from(n - 1).unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!((all.items.len(), all.more), (n - 1, true));
}
