//! The database going away: calls fail fast as `Unavailable` (never `Internal`,
//! never a 30 s hang), and the store heals by itself when it is back. The
//! PostgreSQL case runs on a throwaway cluster it stops and starts itself.

use std::time::{Duration, Instant};

use aegis_core::store::Invalidation;
use aegis_core::{Error, Store};
use aegis_store::testing::cluster::ScratchCluster;
use aegis_store::{PgStore, SqliteStore, StoreOptions};
use sqlx::{Connection, Executor};
use tokio::sync::broadcast::error::TryRecvError;

use super::fixtures::new_user;

const OPTIONS: StoreOptions = StoreOptions {
    timeout: Duration::from_millis(1000),
};

/// Generous: the timeout plus a loaded machine's slack, far below sqlx's 30 s.
const BOUND: Duration = Duration::from_secs(4);

fn assert_unavailable<T: std::fmt::Debug>(what: &str, r: aegis_core::Result<T>) {
    assert!(
        matches!(r, Err(Error::Unavailable { retry_after }) if retry_after > 0),
        "{what}: {r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_unavailable_and_heals() {
    let Some(cluster) = ScratchCluster::create().await.unwrap() else {
        eprintln!("skipping: no PostgreSQL server binaries (initdb, pg_ctl)");
        return;
    };
    let store = PgStore::open_with_options(&cluster.url(), OPTIONS)
        .await
        .unwrap();
    let user = store
        .insert_user(&new_user("outage", Some("outage@example.com")))
        .await
        .unwrap();
    let mut changes = store.subscribe().unwrap();

    cluster.stop().await.unwrap();
    for _ in 0..2 {
        let started = Instant::now();
        assert_unavailable("get_user", store.get_user(user.id).await);
        assert_unavailable("ping", store.ping().await);
        assert!(
            started.elapsed() < BOUND * 2,
            "took {:?}",
            started.elapsed()
        );
    }
    // The listener lost its connection, but nothing can change in a database
    // that is away: the caches are kept (no flush) until it is back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    match changes.try_recv() {
        Err(TryRecvError::Empty) => {}
        other => panic!("no invalidation while the database is away: {other:?}"),
    }

    cluster.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match store.get_user(user.id).await {
            Ok(found) => {
                assert_eq!(found.id, user.id);
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("the store did not heal: {e:?}"),
        }
    }
    // The listener is back too: it flushed what went unheard (at the latest on
    // reconnecting), and hears other instances again.
    let flushed = tokio::time::timeout(Duration::from_secs(20), async {
        while changes.recv().await.unwrap() != Invalidation::All {}
    })
    .await;
    assert!(flushed.is_ok(), "no flush once the database is back");
    let sent = Invalidation::User(user.id);
    let heard = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            // Published until heard: the listener may still be in its backoff.
            store.publish(&sent).await.unwrap();
            let wait = tokio::time::sleep(Duration::from_millis(500));
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    change = changes.recv() => if change.unwrap() == sent { return },
                    () = &mut wait => break,
                }
            }
        }
    })
    .await;
    assert!(heard.is_ok(), "the listener does not hear again");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_database_is_unavailable_not_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("aegis.db").display());
    let store = SqliteStore::open_with_options(&url, OPTIONS).await.unwrap();
    // Another process holds the write lock.
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    other.execute("BEGIN IMMEDIATE").await.unwrap();

    let started = Instant::now();
    let r = store
        .insert_user(&new_user("locked", Some("locked@example.com")))
        .await;
    assert_unavailable("insert_user", r);
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());

    other.execute("ROLLBACK").await.unwrap();
    store
        .insert_user(&new_user("locked", Some("locked@example.com")))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_opens_once_the_server_is_up() {
    let Some(cluster) = ScratchCluster::create().await.unwrap() else {
        eprintln!("skipping: no PostgreSQL server binaries (initdb, pg_ctl)");
        return;
    };
    cluster.stop().await.unwrap();
    // Started with the server still down (as a compose file starts both):
    // opening waits for it rather than failing after the request timeout.
    let url = cluster.url();
    let opening = tokio::spawn(async move { PgStore::open_with_options(&url, OPTIONS).await });
    tokio::time::sleep(OPTIONS.timeout * 2).await;
    assert!(!opening.is_finished(), "gave up before the server came");
    cluster.start().await.unwrap();
    let store = tokio::time::timeout(Duration::from_secs(30), opening)
        .await
        .expect("opened once the server is up")
        .unwrap()
        .unwrap();
    store.ping().await.unwrap();
    store.close().await;
}
