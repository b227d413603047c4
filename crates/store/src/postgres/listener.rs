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

/// The longest pause between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The running listener; stops when the last store clone is dropped.
#[derive(Debug)]
pub(super) struct ListenerTask(JoinHandle<()>);

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts listening; returns once `LISTEN` is in force, so nothing published
/// after the store is opened is missed.
pub(super) async fn start(
    options: PgConnectOptions,
    sender: broadcast::Sender<Invalidation>,
) -> Result<ListenerTask> {
    // A pool of one, used only to reconnect the listener.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
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

async fn forward(pool: PgPool, mut listener: PgListener, sender: broadcast::Sender<Invalidation>) {
    loop {
        // A send fails only when nobody subscribes, which is fine.
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                let _ = sender.send(Invalidation::decode(notification.payload()));
            }
            Ok(None) => {
                tracing::warn!("invalidation listener reconnected");
                let _ = sender.send(Invalidation::All);
            }
            Err(e) => {
                tracing::error!(error = %e, "invalidation listener failed");
                // The connection may be broken in a way the listener does not
                // notice, so start over with a fresh one.
                drop(listener);
                let _ = sender.send(Invalidation::All);
                listener = relisten(&pool, &sender).await;
                let _ = sender.send(Invalidation::All);
            }
        }
    }
}

/// Reconnects with backoff; meanwhile changes of other instances go unheard, so
/// every attempt flushes the caches again (staleness stays under the backoff cap).
async fn relisten(pool: &PgPool, sender: &broadcast::Sender<Invalidation>) -> PgListener {
    let mut backoff = Duration::from_secs(1);
    loop {
        tokio::time::sleep(backoff).await;
        let _ = sender.send(Invalidation::All);
        match listen(pool).await {
            Ok(listener) => return listener,
            Err(e) => {
                tracing::warn!(error = %e, "invalidation listener cannot reconnect");
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
