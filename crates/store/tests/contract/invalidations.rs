//! Invalidation cases that hold on every backend (delivery is tested on PostgreSQL only).

use std::sync::Arc;

use aegis_core::store::Invalidation;
use aegis_core::Store;

/// Publishing works whether or not the backend carries changes to other instances.
pub async fn publish_is_harmless(store: Arc<dyn Store>) {
    store.publish(&Invalidation::All).await.unwrap();
    store
        .publish(&Invalidation::ApiToken([9u8; 32]))
        .await
        .unwrap();
}
