//! Query plans of `list_users_matching`: a pattern with a literal prefix must be
//! an index range scan on `users_login_key_idx`, on realistic statistics.
use std::sync::Arc;

use aegis_core::pattern::Pattern;
use aegis_core::Store;
use aegis_store::SqliteStore;
use futures::{StreamExt, TryStreamExt};

use crate::fixtures::new_user;

const USERS: usize = 2000;

/// A bare prefix (the range alone) and a prefix with a filter after it.
const PATTERNS: [&str; 2] = ["ragu*", "RAGU*@example.com"];

/// `USERS` users: ten `ragu…@example.com`, the rest `user…`, a tenth of them
/// without an email.
pub async fn populate(store: Arc<dyn Store>) {
    futures::stream::iter(0..USERS)
        .map(|i| {
            let store = store.clone();
            async move {
                let new = if i % 200 == 7 {
                    new_user(&format!("r{i}"), Some(&format!("ragu{i}@example.com")))
                } else if i % 10 == 3 {
                    new_user(&format!("user{i}"), None)
                } else {
                    new_user(&format!("user{i}"), Some(&format!("user{i}@example.com")))
                };
                store.insert_user(&new).await.map(drop)
            }
        })
        .buffer_unordered(8)
        .try_collect::<()>()
        .await
        .unwrap();
}

/// Checks that the query finds the ten `ragu` users.
async fn check_results(store: &dyn Store, pattern: &Pattern) {
    let (users, total) = store.list_users_matching(pattern, 1000).await.unwrap();
    assert_eq!(total, 10);
    assert_eq!(users.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_prefix_plan_uses_login_key_index() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("aegis.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    populate(Arc::new(store.clone())).await;
    for raw in PATTERNS {
        let pattern = Pattern::parse(raw).unwrap();
        check_results(&store, &pattern).await;
        let plan = store.explain_users_matching(&pattern, 1000).await.unwrap();
        eprintln!("SQLite plan for {raw}:\n{plan}");
        for section in plan.split("-- ").filter(|s| !s.is_empty()) {
            assert!(
                section.contains("SEARCH users USING")
                    && section.contains("INDEX users_login_key_idx (login_key>? AND login_key<?)"),
                "no index range scan in:\n{section}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_prefix_plan_uses_login_key_index() {
    crate::with_postgres_schema(|store, options| async move {
        populate(Arc::new(store.clone())).await;
        crate::analyze_users(&options).await;

        for raw in PATTERNS {
            let pattern = Pattern::parse(raw).unwrap();
            check_results(&store, &pattern).await;
            let plan = store.explain_users_matching(&pattern, 1000).await.unwrap();
            eprintln!("PostgreSQL plan for {raw} ({USERS} users, analyzed):\n{plan}");
            for section in plan.split("-- ").filter(|s| !s.is_empty()) {
                let scan = ["Index Scan", "Index Only Scan"]
                    .iter()
                    .any(|kind| section.contains(&format!("{kind} using users_login_key_idx")))
                    || section.contains("Bitmap Index Scan on users_login_key_idx");
                assert!(
                    scan && !section.contains("Seq Scan"),
                    "no index scan in:\n{section}"
                );
            }
        }
    })
    .await;
}
