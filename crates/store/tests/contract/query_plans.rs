//! Query plans of `query_users`: every order, both directions, on and after a
//! NULL key, must read its page from the order's `(key, id)` index without a
//! sort, on realistic statistics.
use std::sync::Arc;

use aegis_core::query::{After, Condition, Order, UserField, UserOrder, UserQuery, Value};
use aegis_core::Store;
use aegis_store::SqliteStore;
use futures::{StreamExt, TryStreamExt};

use crate::fixtures::t;
use crate::plans::populate;

/// The index each order reads (`None`: the primary key or the unique id).
fn index(order: UserOrder) -> Option<&'static str> {
    match order {
        UserOrder::Id => None,
        UserOrder::CreatedAt => Some("users_created_at_idx"),
        UserOrder::LastLoginAt => Some("users_last_login_at_idx"),
        UserOrder::LastLoginIp => Some("users_last_login_ip_idx"),
        UserOrder::LoginCount => Some("users_login_count_idx"),
        UserOrder::Email => Some("users_email_idx"),
    }
}

const ORDERS: [UserOrder; 6] = [
    UserOrder::Id,
    UserOrder::CreatedAt,
    UserOrder::LastLoginAt,
    UserOrder::LastLoginIp,
    UserOrder::LoginCount,
    UserOrder::Email,
];

/// The benchmark's filter.
fn active_example() -> Vec<Condition> {
    vec![
        Condition::Eq(UserField::Disabled, Value::Bool(false)),
        Condition::Contains(UserField::Email, vec!["@example.com".into()]),
    ]
}

/// Every query to check: each order and direction, from the start, after the
/// middle user (by id) and after a NULL key with its id; plus the benchmark's
/// filtered query.
async fn queries(store: &dyn Store) -> Vec<UserQuery> {
    let all = store
        .query_users(&UserQuery {
            order_by: UserOrder::Id,
            size: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let pivot = &all.items[all.items.len() / 2];
    let mut out = Vec::new();
    for order_by in ORDERS {
        for order in [Order::Asc, Order::Desc] {
            let key = match order_by {
                UserOrder::Id => Some(Value::Id(pivot.id)),
                UserOrder::CreatedAt => Some(Value::Time(pivot.created_at)),
                UserOrder::LastLoginAt => Some(Value::Time(t(500))),
                UserOrder::LastLoginIp => Some(Value::Text("192.0.2.5".into())),
                UserOrder::LoginCount => Some(Value::Int(0)),
                UserOrder::Email => Some(Value::Text("user5".into())),
            };
            let base = UserQuery {
                order_by,
                order,
                size: 20,
                ..Default::default()
            };
            out.push(base.clone());
            for key in [key, None] {
                out.push(UserQuery {
                    after: Some(After { key, id: pivot.id }),
                    ..base.clone()
                });
            }
        }
    }
    out.push(UserQuery {
        conditions: active_example(),
        size: 20,
        ..Default::default()
    });
    out
}

/// Logs in a third of the users, so that login keys are neither all NULL nor none.
async fn log_in_some(store: Arc<dyn Store>) {
    let all = store
        .query_users(&UserQuery {
            order_by: UserOrder::Id,
            size: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    futures::stream::iter(
        all.items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == 0),
    )
    .map(|(i, u)| {
        let store = store.clone();
        async move {
            let ip = format!("192.0.2.{}", i % 250);
            store.record_login(u.id, t(i as i64), Some(&ip)).await
        }
    })
    .buffer_unordered(8)
    .try_collect::<()>()
    .await
    .unwrap();
}

/// The page sections of a plan, one per index range (the count needs no order).
fn pages(plan: &str) -> Vec<&str> {
    plan.split("-- ")
        .filter(|s| s.starts_with("range"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_user_query_plans_use_the_order_index() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("aegis.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    populate(Arc::new(store.clone())).await;
    log_in_some(Arc::new(store.clone())).await;
    for q in queries(&store).await {
        let plan = store.explain_query_users(&q).await.unwrap();
        eprintln!("SQLite plan for {:?} {:?}:\n{plan}", q.order_by, q.order);
        for section in pages(&plan) {
            let wanted = index(q.order_by).unwrap_or("sqlite_autoindex_users_1");
            assert!(
                section.contains(&format!("INDEX {wanted}")) && !section.contains("TEMP B-TREE"),
                "not an ordered scan of {wanted} in:\n{section}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_user_query_plans_use_the_order_index() {
    crate::with_postgres_schema(|store, options| async move {
        populate(Arc::new(store.clone())).await;
        log_in_some(Arc::new(store.clone())).await;
        crate::analyze_users(&options).await;
        for q in queries(&store).await {
            let plan = store.explain_query_users(&q).await.unwrap();
            eprintln!(
                "PostgreSQL plan for {:?} {:?}:\n{plan}",
                q.order_by, q.order
            );
            for section in pages(&plan) {
                let wanted = index(q.order_by).unwrap_or("users_pkey");
                assert!(
                    section.contains(&format!("using {wanted}")) && !section.contains("Sort"),
                    "not an ordered scan of {wanted} in:\n{section}"
                );
            }
        }
    })
    .await;
}
