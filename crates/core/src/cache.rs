//! In-process caches for the token hot path: verified JWTs, session state, user
//! state and API tokens. Every entry is dropped on change (locally at once, across
//! instances through [`crate::store::Invalidation`]), so a revocation bites on the
//! very next request without a database round trip per request.

use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use parking_lot::RwLock;
use uuid::Uuid;

use crate::api_token::ApiToken;
use crate::error::Result;
use crate::session::Session;
use crate::store::Invalidation;
use crate::token::AccessClaims;
use crate::user::User;

/// A cache whose loads cannot resurrect an entry invalidated while they ran.
///
/// A load reads the epoch before going to the store and inserts only if no
/// invalidation happened meanwhile; invalidations bump the epoch under the write
/// lock, so "check epoch + insert" and "bump + remove" never interleave.
pub struct Guarded<K, V> {
    cache: Cache<K, V>,
    epoch: AtomicU64,
    lock: RwLock<()>,
}

impl<K, V> Guarded<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            epoch: AtomicU64::new(0),
            lock: RwLock::new(()),
        }
    }

    /// The cached value, or the loaded one (cached unless invalidated meanwhile).
    pub async fn get_or_load<F>(&self, key: &K, load: F) -> Result<V>
    where
        F: Future<Output = Result<V>>,
    {
        if let Some(v) = self.cache.get(key) {
            return Ok(v);
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        let v = load.await?;
        let _g = self.lock.read();
        if self.epoch.load(Ordering::SeqCst) == epoch {
            self.cache.insert(key.clone(), v.clone());
        }
        Ok(v)
    }

    /// Drops one entry.
    pub fn invalidate(&self, key: &K) {
        let _g = self.lock.write();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate(key);
    }

    /// Drops every entry.
    pub fn clear(&self) {
        let _g = self.lock.write();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate_all();
    }
}

/// The caches of one instance.
pub struct AuthCache {
    /// Verified JWTs keyed by the whole token: the signature is checked once.
    pub tokens: Cache<Arc<str>, Arc<AccessClaims>>,
    pub sessions: Guarded<Uuid, Option<Arc<Session>>>,
    pub users: Guarded<Uuid, Option<Arc<User>>>,
    pub api_tokens: Guarded<[u8; 32], Option<Arc<ApiToken>>>,
}

impl AuthCache {
    /// Caches bounded in entries; state entries also expire after `ttl` as a
    /// safety net should a cross-instance notification be lost.
    pub fn new(ttl: Duration) -> Self {
        Self {
            tokens: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(3700))
                .build(),
            sessions: Guarded::new(100_000, ttl),
            users: Guarded::new(100_000, ttl),
            api_tokens: Guarded::new(10_000, ttl),
        }
    }

    /// Applies one invalidation.
    pub fn apply(&self, change: &Invalidation) {
        match change {
            Invalidation::User(id) => self.users.invalidate(id),
            Invalidation::Session(id) => self.sessions.invalidate(id),
            Invalidation::ApiToken(h) => self.api_tokens.invalidate(h),
            Invalidation::All => {
                self.users.clear();
                self.sessions.clear();
                self.api_tokens.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn invalidation_during_load_is_not_overwritten() {
        let g: Guarded<u32, u32> = Guarded::new(10, Duration::from_secs(60));
        let v = g
            .get_or_load(&1, async {
                g.invalidate(&1); // a change lands while the load is in flight
                Ok(10)
            })
            .await
            .unwrap();
        assert_eq!(v, 10);
        assert_eq!(g.cache.get(&1), None, "stale load must not be cached");
        g.get_or_load(&1, async { Ok(11) }).await.unwrap();
        assert_eq!(g.cache.get(&1), Some(11));
        g.invalidate(&1);
        assert_eq!(g.cache.get(&1), None);
    }
}
