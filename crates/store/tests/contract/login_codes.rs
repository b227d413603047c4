//! One-time login codes: used once, even under a race; never after expiry;
//! gone with their session or user, and purged once ended; and the refresh
//! token an exchange adds to its session's family.

use std::sync::Arc;

use aegis_core::session::LoginCode;
use aegis_core::store::AdminGuard::Off;
use aegis_core::Store;
use uuid::Uuid;

use crate::fixtures::{hash, new_user, not_found, refresh_token, session, t};

/// An unused code of a session, issued at `t(0)`, expiring at `t(expires)`.
fn code(session_id: Uuid, user_id: Uuid, expires: i64) -> LoginCode {
    LoginCode {
        hash: hash(),
        session_id,
        user_id,
        created_at: t(0),
        expires_at: t(expires),
        used_at: None,
    }
}

/// A user with one live session; returns their ids.
async fn signed_in(s: &dyn Store, name: &str) -> (Uuid, Uuid) {
    let user = s.insert_user(&new_user(name, None)).await.unwrap();
    let (sess, first) = session(user.id);
    s.insert_session(&sess, &first).await.unwrap();
    (user.id, sess.id)
}

pub async fn login_code_is_used_once(store: Arc<dyn Store>) {
    let s = &*store;
    let (user, sess) = signed_in(s, "lena").await;
    let issued = code(sess, user, 120);
    s.insert_login_code(&issued).await.unwrap();
    // The same hash twice is a conflict, not a second code.
    assert!(s.insert_login_code(&issued).await.is_err());

    let used = s.use_login_code(&issued.hash, t(10)).await.unwrap();
    let want = LoginCode {
        used_at: Some(t(10)),
        ..issued.clone()
    };
    assert_eq!(used, Some(want));
    assert_eq!(s.use_login_code(&issued.hash, t(11)).await.unwrap(), None);
    assert_eq!(s.use_login_code(&hash(), t(10)).await.unwrap(), None);

    // Codes name an existing session and user.
    let orphan = code(Uuid::now_v7(), user, 120);
    assert_eq!(not_found(s.insert_login_code(&orphan).await), "session");
    let stranger = code(sess, Uuid::now_v7(), 120);
    assert_eq!(not_found(s.insert_login_code(&stranger).await), "session");
}

pub async fn login_code_race_has_one_winner(store: Arc<dyn Store>) {
    let (user, sess) = signed_in(&*store, "mona").await;
    for round in 0..20 {
        let issued = code(sess, user, 120);
        store.insert_login_code(&issued).await.unwrap();
        let spawn_use = || {
            let store = Arc::clone(&store);
            let hash = issued.hash;
            tokio::spawn(async move { store.use_login_code(&hash, t(round)).await })
        };
        let (a, b) = tokio::join!(spawn_use(), spawn_use());
        let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
        assert!(a.is_some() ^ b.is_some(), "round {round}: {a:?} {b:?}");
        let winner = a.or(b).unwrap();
        assert_eq!((winner.session_id, winner.used_at), (sess, Some(t(round))));
    }
}

pub async fn login_code_expired_is_never_used(store: Arc<dyn Store>) {
    let s = &*store;
    let (user, sess) = signed_in(s, "nina").await;
    let late = code(sess, user, 120);
    s.insert_login_code(&late).await.unwrap();
    // Expiry is exclusive: at the instant it ends, the code is dead.
    assert_eq!(s.use_login_code(&late.hash, t(120)).await.unwrap(), None);
    assert_eq!(s.use_login_code(&late.hash, t(500)).await.unwrap(), None);
    // A failed use does not mark it: just in time still works.
    assert!(s
        .use_login_code(&late.hash, t(119))
        .await
        .unwrap()
        .is_some());
}

pub async fn login_code_follows_session_and_user_deletion(store: Arc<dyn Store>) {
    let s = &*store;
    // A session that ends (purged) takes its codes along, unexpired or not.
    let user = s.insert_user(&new_user("olga", None)).await.unwrap();
    let (mut short, first) = session(user.id);
    short.expires_at = t(100);
    s.insert_session(&short, &first).await.unwrap();
    let of_short = code(short.id, user.id, 5000);
    s.insert_login_code(&of_short).await.unwrap();
    // 1 refresh token + 1 login code + 1 session.
    assert_eq!(s.purge_expired(t(150)).await.unwrap(), 3);
    assert_eq!(s.use_login_code(&of_short.hash, t(10)).await.unwrap(), None);

    // A deleted user takes every code of every session along.
    let (pia, sess) = signed_in(s, "pia").await;
    let (other, other_sess) = signed_in(s, "quin").await;
    let mine = code(sess, pia, 120);
    let theirs = code(other_sess, other, 120);
    s.insert_login_code(&mine).await.unwrap();
    s.insert_login_code(&theirs).await.unwrap();
    s.delete_user(pia, Off).await.unwrap();
    assert_eq!(s.use_login_code(&mine.hash, t(10)).await.unwrap(), None);
    assert!(s
        .use_login_code(&theirs.hash, t(10))
        .await
        .unwrap()
        .is_some());
}

pub async fn login_code_session_gets_another_refresh_token(store: Arc<dyn Store>) {
    let s = &*store;
    let (_, sess) = signed_in(s, "rita").await;
    let next = refresh_token(sess);
    s.insert_refresh_token(&next).await.unwrap();
    assert_eq!(s.find_refresh_token(&next.hash).await.unwrap(), Some(next));
    let orphan = refresh_token(Uuid::now_v7());
    assert_eq!(not_found(s.insert_refresh_token(&orphan).await), "session");
    assert_eq!(s.find_refresh_token(&orphan.hash).await.unwrap(), None);
}

pub async fn login_code_purge_removes_only_what_ended(store: Arc<dyn Store>) {
    let s = &*store;
    let (user, sess) = signed_in(s, "sara").await;
    let cut = t(150);
    // Ended before the cut-off, used or not: gone. Ending at the cut-off or
    // later: kept (strictly before, like everything else).
    let old = code(sess, user, 100);
    let old_used = code(sess, user, 120);
    let edge = code(sess, user, 150);
    let live = code(sess, user, 300);
    for c in [&old, &old_used, &edge, &live] {
        s.insert_login_code(c).await.unwrap();
    }
    assert!(s
        .use_login_code(&old_used.hash, t(5))
        .await
        .unwrap()
        .is_some());
    assert_eq!(s.purge_expired(cut).await.unwrap(), 2);
    // What is left still works once; what went is unknown (so `None` before expiry too).
    assert_eq!(s.use_login_code(&old.hash, t(1)).await.unwrap(), None);
    assert!(s.use_login_code(&edge.hash, t(1)).await.unwrap().is_some());
    assert!(s.use_login_code(&live.hash, t(1)).await.unwrap().is_some());
    assert_eq!(s.purge_expired(cut).await.unwrap(), 0);
}
