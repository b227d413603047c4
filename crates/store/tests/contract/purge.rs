//! Purging what expired: API tokens, sessions, refresh tokens, throttle counters.

use std::sync::Arc;

use aegis_core::Store;

use crate::fixtures::{api_token, new_user, refresh_token, session, t};

pub async fn purge_removes_only_what_ended(store: Arc<dyn Store>) {
    let s = &*store;
    let cut = t(150);
    let user = s.insert_user(&new_user("vera", None)).await.unwrap();

    // API tokens: one expired, one expiring exactly at the cut-off (kept: strictly before).
    let mut old_token = api_token(user.id, "local", 0);
    old_token.expires_at = t(100);
    let mut edge_token = api_token(user.id, "local", 1);
    edge_token.expires_at = cut;
    let live_token = api_token(user.id, "local", 2);
    for token in [&old_token, &edge_token, &live_token] {
        s.insert_api_token(token).await.unwrap();
    }

    // An expired session with a live refresh token (both go), and a live
    // session whose first refresh token expired (only the token goes).
    let (mut old_session, mut old_refresh) = session(user.id);
    old_session.expires_at = t(100);
    old_refresh.expires_at = t(600);
    s.insert_session(&old_session, &old_refresh).await.unwrap();
    let (mut live_session, mut stale_refresh) = session(user.id);
    live_session.expires_at = t(1000);
    stale_refresh.expires_at = t(120);
    s.insert_session(&live_session, &stale_refresh)
        .await
        .unwrap();
    let mut next_refresh = refresh_token(live_session.id);
    next_refresh.expires_at = t(300);
    assert!(s
        .use_refresh_token(&stale_refresh.hash, t(10), Some(&next_refresh))
        .await
        .unwrap());

    // Throttle counters: an old window and an ended lock go; a recent window,
    // a lock in force and a lock in force over an old window stay.
    s.record_failure("old-window", t(100), t(40)).await.unwrap();
    s.record_failure("new-window", t(160), t(100))
        .await
        .unwrap();
    s.lock_throttle("ended-lock", t(140)).await.unwrap();
    s.lock_throttle("live-lock", t(200)).await.unwrap();
    s.record_failure("locked-old", t(100), t(40)).await.unwrap();
    s.lock_throttle("locked-old", t(200)).await.unwrap();

    // 1 token + 2 refresh tokens + 1 session + 2 throttle rows.
    assert_eq!(s.purge_expired(cut).await.unwrap(), 6);

    assert_eq!(s.find_api_token(old_token.id).await.unwrap(), None);
    assert!(s.find_api_token(edge_token.id).await.unwrap().is_some());
    assert!(s.find_api_token(live_token.id).await.unwrap().is_some());
    assert_eq!(s.find_session(old_session.id).await.unwrap(), None);
    assert_eq!(s.find_refresh_token(&old_refresh.hash).await.unwrap(), None);
    assert!(s.find_session(live_session.id).await.unwrap().is_some());
    assert_eq!(
        s.find_refresh_token(&stale_refresh.hash).await.unwrap(),
        None
    );
    assert!(s
        .find_refresh_token(&next_refresh.hash)
        .await
        .unwrap()
        .is_some());
    for gone in ["old-window", "ended-lock"] {
        assert_eq!(s.find_throttle(gone).await.unwrap(), None, "{gone}");
    }
    for kept in ["new-window", "live-lock", "locked-old"] {
        assert!(s.find_throttle(kept).await.unwrap().is_some(), "{kept}");
    }
    // Users are never purged.
    assert!(s.find_user(user.id).await.unwrap().is_some());

    // Nothing more to do at the same cut-off.
    assert_eq!(s.purge_expired(cut).await.unwrap(), 0);
    // Later: the edge token, the live session with its refresh token and the
    // three throttle rows; the live token (a day long) stays.
    assert_eq!(s.purge_expired(t(1001)).await.unwrap(), 6);
    assert!(s.find_api_token(live_token.id).await.unwrap().is_some());
    assert_eq!(s.find_session(live_session.id).await.unwrap(), None);
}
