//! Sessions and refresh tokens: revocation and single use.

use std::sync::Arc;

use aegis_core::Store;
use uuid::Uuid;

use crate::fixtures::{new_user, not_found, refresh_token, session, t};

pub async fn sessions_round_trip(store: Arc<dyn Store>) {
    let s = &*store;
    let user = s.insert_user(&new_user("ivan", None)).await.unwrap();
    let (sess, refresh) = session(user.id);
    s.insert_session(&sess, &refresh).await.unwrap();
    assert_eq!(s.find_session(sess.id).await.unwrap(), Some(sess.clone()));
    assert_eq!(
        s.find_refresh_token(&refresh.hash).await.unwrap(),
        Some(refresh.clone())
    );
    assert_eq!(s.find_session(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(s.find_refresh_token(&[0u8; 32]).await.unwrap(), None);
    // Whether the sign-in proved a second factor is kept.
    let (mut mfa, mfa_refresh) = session(user.id);
    mfa.second_factor = true;
    s.insert_session(&mfa, &mfa_refresh).await.unwrap();
    assert_eq!(s.find_session(mfa.id).await.unwrap(), Some(mfa.clone()));

    // A session needs its user; nothing is left of a failed insert.
    let (orphan, orphan_refresh) = session(Uuid::now_v7());
    assert_eq!(
        not_found(s.insert_session(&orphan, &orphan_refresh).await),
        "user"
    );
    assert_eq!(s.find_session(orphan.id).await.unwrap(), None);
    assert_eq!(
        s.find_refresh_token(&orphan_refresh.hash).await.unwrap(),
        None
    );
}

pub async fn revoke_one_session(store: Arc<dyn Store>) {
    let s = &*store;
    let user = s.insert_user(&new_user("judy", None)).await.unwrap();
    let (sess, refresh) = session(user.id);
    s.insert_session(&sess, &refresh).await.unwrap();
    assert!(s.revoke_session(sess.id, t(5)).await.unwrap());
    assert!(!s.revoke_session(sess.id, t(6)).await.unwrap());
    let found = s.find_session(sess.id).await.unwrap().unwrap();
    assert_eq!(found.revoked_at, Some(t(5)));
    assert!(!found.is_live(t(7)));
    assert!(!s.revoke_session(Uuid::now_v7(), t(5)).await.unwrap());
}

pub async fn revoke_user_sessions_except(store: Arc<dyn Store>) {
    let s = &*store;
    let user = s.insert_user(&new_user("ken", None)).await.unwrap();
    let other = s.insert_user(&new_user("lena", None)).await.unwrap();
    let mut ids = Vec::new();
    for owner in [user.id, user.id, user.id, user.id, other.id] {
        let (sess, refresh) = session(owner);
        s.insert_session(&sess, &refresh).await.unwrap();
        ids.push(sess.id);
    }
    let (current, already, live) = (ids[0], ids[1], [ids[2], ids[3]]);
    assert!(s.revoke_session(already, t(1)).await.unwrap());

    let mut revoked = s
        .revoke_user_sessions(user.id, Some(current), t(10))
        .await
        .unwrap();
    revoked.sort();
    let mut expected = live.to_vec();
    expected.sort();
    assert_eq!(revoked, expected);
    for id in live {
        let found = s.find_session(id).await.unwrap().unwrap();
        assert_eq!(found.revoked_at, Some(t(10)));
    }
    let kept = s.find_session(current).await.unwrap().unwrap();
    assert_eq!(kept.revoked_at, None);
    let earlier = s.find_session(already).await.unwrap().unwrap();
    assert_eq!(earlier.revoked_at, Some(t(1)));
    let foreign = s.find_session(ids[4]).await.unwrap().unwrap();
    assert_eq!(foreign.revoked_at, None);

    // Without an exception the rest goes too; a second call finds nothing.
    assert_eq!(
        s.revoke_user_sessions(user.id, None, t(20)).await.unwrap(),
        vec![current]
    );
    assert!(s
        .revoke_user_sessions(user.id, None, t(30))
        .await
        .unwrap()
        .is_empty());
}

pub async fn active_sessions_are_counted(store: Arc<dyn Store>) {
    let s = &*store;
    let user = s.insert_user(&new_user("otto", None)).await.unwrap();
    assert_eq!(s.count_active_sessions(t(1)).await.unwrap(), 0);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (sess, refresh) = session(user.id);
        s.insert_session(&sess, &refresh).await.unwrap();
        ids.push(sess.id);
    }
    assert_eq!(s.count_active_sessions(t(1)).await.unwrap(), 3);
    assert!(s.revoke_session(ids[0], t(2)).await.unwrap());
    assert_eq!(s.count_active_sessions(t(3)).await.unwrap(), 2);
    // Past their end (t(3600)) none is active.
    assert_eq!(s.count_active_sessions(t(3600)).await.unwrap(), 0);
    let pool = s.pool_state();
    assert!(
        pool.max >= 1 && pool.size <= pool.max && pool.idle <= pool.size,
        "{pool:?}"
    );
}

pub async fn refresh_tokens_are_single_use(store: Arc<dyn Store>) {
    let s = &*store;
    let user = s.insert_user(&new_user("mona", None)).await.unwrap();
    let (sess, first) = session(user.id);
    s.insert_session(&sess, &first).await.unwrap();

    let second = refresh_token(sess.id);
    assert!(s
        .use_refresh_token(&first.hash, t(5), Some(&second))
        .await
        .unwrap());
    let used = s.find_refresh_token(&first.hash).await.unwrap().unwrap();
    assert_eq!(used.used_at, Some(t(5)));
    assert_eq!(
        s.find_refresh_token(&second.hash).await.unwrap(),
        Some(second.clone())
    );

    // Reuse fails and inserts nothing.
    let third = refresh_token(sess.id);
    assert!(!s
        .use_refresh_token(&first.hash, t(6), Some(&third))
        .await
        .unwrap());
    assert_eq!(s.find_refresh_token(&third.hash).await.unwrap(), None);
    let used = s.find_refresh_token(&first.hash).await.unwrap().unwrap();
    assert_eq!(used.used_at, Some(t(5)));

    // The last token of a family has no successor.
    assert!(s.use_refresh_token(&second.hash, t(7), None).await.unwrap());
    assert!(!s.use_refresh_token(&[1u8; 32], t(7), None).await.unwrap());
}

pub async fn refresh_token_race_has_one_winner(store: Arc<dyn Store>) {
    let user = store.insert_user(&new_user("nick", None)).await.unwrap();
    for round in 0..20 {
        let (sess, first) = session(user.id);
        store.insert_session(&sess, &first).await.unwrap();
        let (left, right) = (refresh_token(sess.id), refresh_token(sess.id));
        let spawn_use = |next: aegis_core::session::RefreshToken| {
            let store = Arc::clone(&store);
            let hash = first.hash;
            tokio::spawn(async move { store.use_refresh_token(&hash, t(round), Some(&next)).await })
        };
        let (a, b) = tokio::join!(spawn_use(left.clone()), spawn_use(right.clone()));
        let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
        assert!(a ^ b, "round {round}: {a} {b}");
        let winner = if a { &left } else { &right };
        let loser = if a { &right } else { &left };
        assert!(store
            .find_refresh_token(&winner.hash)
            .await
            .unwrap()
            .is_some());
        assert_eq!(store.find_refresh_token(&loser.hash).await.unwrap(), None);
    }
}
