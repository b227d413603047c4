//! The background task that turns `NOTIFY aegis_invalidate` into [`Invalidation`]s.
//!
//! Notifications sent while the listening connection is down are lost, so every
//! reconnection is followed by [`Invalidation::All`].

use std::time::Duration;

use aegis_core::store::Invalidation;
use aegis_core::Result;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::error::internal;

/// The notification channel every instance listens on.
pub(super) const CHANNEL: &str = "aegis_invalidate";

/// The longest pause between two reconnection attempts: once the database is
/// back, changes of other instances go unheard (and cached state loaded since
/// may go stale) for at most this long.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The running listener; stops when the last store clone is dropped.
#[derive(Debug)]
pub(super) struct ListenerTask(JoinHandle<()>);

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts listening; returns once `LISTEN` is in force, so nothing published
/// after the store is opened is missed. `timeout` bounds each connection attempt.
pub(super) async fn start(
    options: PgConnectOptions,
    timeout: Duration,
    sender: broadcast::Sender<Invalidation>,
) -> Result<ListenerTask> {
    // A pool of one, used only to reconnect the listener.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(timeout)
        .connect_with(options)
        .await
        .map_err(internal)?;
    let listener = listen(&pool).await.map_err(internal)?;
    Ok(ListenerTask(tokio::spawn(forward(pool, listener, sender))))
}

async fn listen(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Forwards notifications until the store is dropped.
///
/// While the connection is down the caches are kept: if the whole database is
/// away, nothing can change in it, and the cached session and user state is
/// what keeps token checks working meanwhile (each entry still expires after
/// the cache's time to live). Once `LISTEN` is in force again the caches are
/// flushed, since changes made in the gap went unheard; and if the database
/// answers while the listener cannot, they are flushed at every attempt.
async fn forward(pool: PgPool, mut listener: PgListener, sender: broadcast::Sender<Invalidation>) {
    loop {
        // A send fails only when nobody subscribes, which is fine.
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                let _ = sender.send(Invalidation::decode(notification.payload()));
            }
            Ok(None) => {
                // sqlx reconnected (and listens again) before answering.
                tracing::warn!("invalidation listener reconnected");
                let _ = sender.send(Invalidation::All);
            }
            Err(e) => {
                tracing::warn!(error = %e, "invalidation listener lost its connection");
                // The connection may be broken in a way the listener does not
                // notice, so start over with a fresh one.
                drop(listener);
                listener = relisten(&pool, &sender).await;
                tracing::info!("invalidation listener reconnected");
                let _ = sender.send(Invalidation::All);
            }
        }
    }
}

/// Reconnects with backoff (1 s doubling to [`MAX_BACKOFF`]).
async fn relisten(pool: &PgPool, sender: &broadcast::Sender<Invalidation>) -> PgListener {
    let mut backoff = Duration::from_secs(1);
    loop {
        tokio::time::sleep(backoff).await;
        match listen(pool).await {
            Ok(listener) => return listener,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_s = backoff.as_secs(),
                    "invalidation listener cannot reconnect");
                // Changes other instances make meanwhile go unheard: drop
                // what could be stale, unless the database is away for us too
                // (then nothing can be reloaded, and nothing changes in it).
                if sqlx::query("SELECT 1").execute(pool).await.is_ok() {
                    let _ = sender.send(Invalidation::All);
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
