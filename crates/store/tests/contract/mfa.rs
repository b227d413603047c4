//! Second factors and recovery codes: round trips, per-user scoping, the
//! monotonic (replay-proof) TOTP step, single-use codes and cascades.

use std::sync::Arc;

use aegis_core::mfa::{Factor, FactorKind};
use aegis_core::store::AdminGuard::Off;
use aegis_core::user::User;
use aegis_core::Store;
use uuid::Uuid;

use crate::fixtures::{conflict, hash, new_user, not_found, t};

/// A pending factor of `user`, created at `t(created)`.
fn factor(user: Uuid, kind: FactorKind, created: i64) -> Factor {
    let (secret, credential) = match kind {
        FactorKind::Totp => (Some(vec![0, 1, 0xfe, 0xff, 0x80, 7, 0]), None),
        FactorKind::Passkey => (None, Some(r#"{"cred":"ünï","id":[1,2,3]}"#.to_owned())),
    };
    Factor {
        id: Uuid::now_v7(),
        user_id: user,
        kind,
        name: format!("{} at {created}", kind.as_str()),
        secret,
        credential,
        enabled: false,
        last_step: None,
        created_at: t(created),
        updated_at: t(created),
    }
}

async fn user(s: &dyn Store, name: &str) -> User {
    let mut new = new_user(name, None);
    // Random ids: user order is not creation order.
    new.id = Uuid::new_v4();
    s.insert_user(&new).await.unwrap()
}

/// Factors in the order `factors_of` promises: by user, creation time, id.
fn sorted(mut factors: Vec<Factor>) -> Vec<Factor> {
    factors.sort_by_key(|f| (f.user_id, f.created_at, f.id));
    factors
}

async fn only(s: &dyn Store, user: Uuid, id: Uuid) -> Factor {
    s.factors_of(&[user])
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.id == id)
        .expect("factor stored")
}

pub async fn mfa_factors_round_trip_in_order(store: Arc<dyn Store>) {
    let s = &*store;
    let (amy, ben, cal) = (
        user(s, "amy").await,
        user(s, "ben").await,
        user(s, "cal").await,
    );

    // Every field, with and without optional values; ties on created_at go by id.
    let late = factor(amy.id, FactorKind::Totp, 20);
    let mut tie_b = factor(amy.id, FactorKind::Passkey, 10);
    let mut tie_a = factor(amy.id, FactorKind::Totp, 10);
    tie_a.id = Uuid::from_u128(tie_b.id.as_u128() - 1);
    tie_a.enabled = true;
    tie_a.last_step = Some(63_333_333);
    tie_a.updated_at = t(15);
    tie_b.name = String::new();
    let mut bens = factor(ben.id, FactorKind::Totp, 5);
    bens.secret = Some(vec![0x42; 48]);
    bens.last_step = Some(0);
    for f in [&late, &tie_b, &bens, &tie_a] {
        s.insert_factor(f).await.unwrap();
    }

    let amys = s.factors_of(&[amy.id]).await.unwrap();
    assert_eq!(amys, vec![tie_a.clone(), tie_b.clone(), late.clone()]);
    // Several users in one call, in user order whatever the order asked.
    let all = sorted(vec![late, tie_a, tie_b, bens.clone()]);
    assert_eq!(s.factors_of(&[amy.id, ben.id]).await.unwrap(), all);
    assert_eq!(
        s.factors_of(&[ben.id, cal.id, amy.id, ben.id])
            .await
            .unwrap(),
        all
    );
    assert_eq!(s.factors_of(&[ben.id]).await.unwrap(), vec![bens.clone()]);
    assert!(s.factors_of(&[cal.id]).await.unwrap().is_empty());
    assert!(s.factors_of(&[Uuid::now_v7()]).await.unwrap().is_empty());
    assert!(s.factors_of(&[]).await.unwrap().is_empty());

    // Ids are unique; the user must exist.
    let mut again = factor(cal.id, FactorKind::Totp, 1);
    again.id = bens.id;
    assert_eq!(conflict(s.insert_factor(&again).await), "id");
    let orphan = factor(Uuid::now_v7(), FactorKind::Totp, 1);
    assert_eq!(not_found(s.insert_factor(&orphan).await), "user");
    assert!(s
        .factors_of(&[cal.id, orphan.user_id])
        .await
        .unwrap()
        .is_empty());
}

pub async fn mfa_factors_enable_and_advance_monotonically(store: Arc<dyn Store>) {
    let s = &*store;
    let (dan, eve) = (user(s, "dan").await, user(s, "eve").await);
    let totp = factor(dan.id, FactorKind::Totp, 1);
    s.insert_factor(&totp).await.unwrap();

    // A pending factor never advances.
    assert!(!s.advance_factor_step(totp.id, 5, t(2)).await.unwrap());
    assert_eq!(only(s, dan.id, totp.id).await, totp);

    // Only its own user enables it.
    assert!(!s
        .enable_factor(eve.id, totp.id, Some(100), t(3))
        .await
        .unwrap());
    assert!(!s
        .enable_factor(dan.id, Uuid::now_v7(), Some(100), t(3))
        .await
        .unwrap());
    assert_eq!(only(s, dan.id, totp.id).await, totp);
    assert!(s
        .enable_factor(dan.id, totp.id, Some(100), t(4))
        .await
        .unwrap());
    let enabled = Factor {
        enabled: true,
        last_step: Some(100),
        updated_at: t(4),
        ..totp.clone()
    };
    assert_eq!(only(s, dan.id, totp.id).await, enabled);
    // Enabled once: a second confirmation changes nothing (no step rollback).
    assert!(!s
        .enable_factor(dan.id, totp.id, Some(1), t(5))
        .await
        .unwrap());
    assert_eq!(only(s, dan.id, totp.id).await, enabled);

    // The same step twice, or an earlier one, is refused and changes nothing.
    assert!(!s.advance_factor_step(totp.id, 100, t(5)).await.unwrap());
    assert!(!s.advance_factor_step(totp.id, 99, t(5)).await.unwrap());
    assert!(!s.advance_factor_step(totp.id, 0, t(5)).await.unwrap());
    assert_eq!(only(s, dan.id, totp.id).await, enabled);
    assert!(s.advance_factor_step(totp.id, 101, t(6)).await.unwrap());
    assert!(!s.advance_factor_step(totp.id, 101, t(7)).await.unwrap());
    assert!(s.advance_factor_step(totp.id, 150, t(8)).await.unwrap());
    assert!(!s.advance_factor_step(totp.id, 149, t(9)).await.unwrap());
    assert_eq!(
        only(s, dan.id, totp.id).await,
        Factor {
            last_step: Some(150),
            updated_at: t(8),
            ..enabled
        }
    );
    assert!(!s
        .advance_factor_step(Uuid::now_v7(), 500, t(9))
        .await
        .unwrap());

    // Enabled without a step (a passkey), the first step is always later.
    let passkey = factor(dan.id, FactorKind::Passkey, 2);
    s.insert_factor(&passkey).await.unwrap();
    assert!(s
        .enable_factor(dan.id, passkey.id, None, t(10))
        .await
        .unwrap());
    let got = only(s, dan.id, passkey.id).await;
    assert!(got.enabled);
    assert_eq!(got.last_step, None);
    assert_eq!(got.updated_at, t(10));
    assert!(s.advance_factor_step(passkey.id, 0, t(11)).await.unwrap());
    assert!(!s.advance_factor_step(passkey.id, 0, t(12)).await.unwrap());
    assert_eq!(only(s, dan.id, passkey.id).await.last_step, Some(0));

    // A step too large to store is refused.
    assert!(s
        .advance_factor_step(totp.id, u64::MAX, t(13))
        .await
        .is_err());
}

pub async fn mfa_factor_step_race_has_one_winner(store: Arc<dyn Store>) {
    let user = user(&*store, "fay").await;
    let totp = factor(user.id, FactorKind::Totp, 0);
    store.insert_factor(&totp).await.unwrap();
    assert!(store
        .enable_factor(user.id, totp.id, Some(1000), t(0))
        .await
        .unwrap());
    for round in 0..20u64 {
        let step = 1001 + round;
        let spawn_advance = || {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.advance_factor_step(totp.id, step, t(1)).await })
        };
        let (a, b) = tokio::join!(spawn_advance(), spawn_advance());
        let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
        assert!(a ^ b, "round {round}: {a} {b}");
    }
    assert_eq!(only(&*store, user.id, totp.id).await.last_step, Some(1020));
}

pub async fn mfa_factors_delete_and_drop_pending(store: Arc<dyn Store>) {
    let s = &*store;
    let (gus, hal) = (user(s, "gus").await, user(s, "hal").await);
    let pending_a = factor(gus.id, FactorKind::Totp, 1);
    let pending_b = factor(gus.id, FactorKind::Totp, 2);
    let live = factor(gus.id, FactorKind::Totp, 3);
    let pending_key = factor(gus.id, FactorKind::Passkey, 4);
    let live_key = factor(gus.id, FactorKind::Passkey, 5);
    let hals = factor(hal.id, FactorKind::Totp, 6);
    for f in [
        &pending_a,
        &pending_b,
        &live,
        &pending_key,
        &live_key,
        &hals,
    ] {
        s.insert_factor(f).await.unwrap();
    }
    assert!(s
        .enable_factor(gus.id, live.id, Some(7), t(7))
        .await
        .unwrap());
    assert!(s
        .enable_factor(gus.id, live_key.id, None, t(7))
        .await
        .unwrap());

    // Only the pending TOTP factors of that user go.
    assert_eq!(
        s.delete_pending_factors(gus.id, FactorKind::Totp)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.delete_pending_factors(gus.id, FactorKind::Totp)
            .await
            .unwrap(),
        0
    );
    let ids = |fs: Vec<Factor>| fs.into_iter().map(|f| f.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.factors_of(&[gus.id]).await.unwrap()),
        vec![live.id, pending_key.id, live_key.id]
    );
    assert_eq!(s.factors_of(&[hal.id]).await.unwrap(), vec![hals.clone()]);
    assert_eq!(
        s.delete_pending_factors(gus.id, FactorKind::Passkey)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        ids(s.factors_of(&[gus.id]).await.unwrap()),
        vec![live.id, live_key.id]
    );
    assert_eq!(
        s.delete_pending_factors(Uuid::now_v7(), FactorKind::Totp)
            .await
            .unwrap(),
        0
    );

    // A factor is deleted only by its own user, once.
    assert!(!s.delete_factor(hal.id, live.id).await.unwrap());
    assert!(!s.delete_factor(gus.id, hals.id).await.unwrap());
    assert!(s.delete_factor(gus.id, live.id).await.unwrap());
    assert!(!s.delete_factor(gus.id, live.id).await.unwrap());
    assert!(!s.delete_factor(gus.id, Uuid::now_v7()).await.unwrap());
    assert_eq!(
        ids(s.factors_of(&[gus.id]).await.unwrap()),
        vec![live_key.id]
    );
    assert_eq!(s.factors_of(&[hal.id]).await.unwrap(), vec![hals]);
}

pub async fn mfa_recovery_codes_are_single_use(store: Arc<dyn Store>) {
    let s = &*store;
    let (ian, joe) = (user(s, "ian").await, user(s, "joe").await);
    assert_eq!(s.recovery_codes_left(ian.id).await.unwrap(), 0);
    let first: Vec<[u8; 32]> = (0..3).map(|_| hash()).collect();
    s.replace_recovery_codes(ian.id, &first, t(1))
        .await
        .unwrap();
    let joes = [hash()];
    s.replace_recovery_codes(joe.id, &joes, t(1)).await.unwrap();
    assert_eq!(s.recovery_codes_left(ian.id).await.unwrap(), 3);

    // A code is used once, and only by its own user.
    assert!(s.use_recovery_code(ian.id, &first[0], t(2)).await.unwrap());
    assert!(!s.use_recovery_code(ian.id, &first[0], t(3)).await.unwrap());
    assert!(!s.use_recovery_code(joe.id, &first[1], t(3)).await.unwrap());
    assert!(!s.use_recovery_code(ian.id, &joes[0], t(3)).await.unwrap());
    assert!(!s.use_recovery_code(ian.id, &hash(), t(3)).await.unwrap());
    assert_eq!(s.recovery_codes_left(ian.id).await.unwrap(), 2);
    assert_eq!(s.recovery_codes_left(joe.id).await.unwrap(), 1);

    // A new set replaces the old one, used codes included.
    let second: Vec<[u8; 32]> = (0..4).map(|_| hash()).collect();
    s.replace_recovery_codes(ian.id, &second, t(4))
        .await
        .unwrap();
    assert_eq!(s.recovery_codes_left(ian.id).await.unwrap(), 4);
    assert!(!s.use_recovery_code(ian.id, &first[1], t(5)).await.unwrap());
    assert!(s.use_recovery_code(ian.id, &second[3], t(5)).await.unwrap());
    assert_eq!(s.recovery_codes_left(ian.id).await.unwrap(), 3);
    // The set may even hold a code of the old one again, unused.
    s.replace_recovery_codes(ian.id, &[second[3]], t(6))
        .await
        .unwrap();
    assert_eq!(s.recovery_codes_left(ian.id).await.unwrap(), 1);
    assert!(s.use_recovery_code(ian.id, &second[3], t(7)).await.unwrap());
    s.replace_recovery_codes(ian.id, &[], t(8)).await.unwrap();
    assert_eq!(s.recovery_codes_left(ian.id).await.unwrap(), 0);
    assert_eq!(s.recovery_codes_left(joe.id).await.unwrap(), 1);

    // Codes of an unknown user are refused, writing nothing.
    let ghost = Uuid::now_v7();
    assert_eq!(
        not_found(s.replace_recovery_codes(ghost, &[hash()], t(9)).await),
        "user"
    );
    assert_eq!(
        not_found(s.replace_recovery_codes(ghost, &[], t(9)).await),
        "user"
    );
    assert_eq!(s.recovery_codes_left(ghost).await.unwrap(), 0);
}

pub async fn mfa_recovery_code_race_has_one_winner(store: Arc<dyn Store>) {
    let user = user(&*store, "kim").await;
    let codes: Vec<[u8; 32]> = (0..20).map(|_| hash()).collect();
    store
        .replace_recovery_codes(user.id, &codes, t(0))
        .await
        .unwrap();
    for (round, code) in codes.iter().enumerate() {
        let spawn_use = || {
            let store = Arc::clone(&store);
            let code = *code;
            tokio::spawn(async move { store.use_recovery_code(user.id, &code, t(1)).await })
        };
        let (a, b) = tokio::join!(spawn_use(), spawn_use());
        let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
        assert!(a ^ b, "round {round}: {a} {b}");
    }
    assert_eq!(store.recovery_codes_left(user.id).await.unwrap(), 0);
}

pub async fn mfa_follows_user_deletion(store: Arc<dyn Store>) {
    let s = &*store;
    let (doomed, kept) = (user(s, "lee").await, user(s, "max").await);
    for u in [doomed.id, kept.id] {
        let pending = factor(u, FactorKind::Totp, 1);
        let live = factor(u, FactorKind::Passkey, 2);
        s.insert_factor(&pending).await.unwrap();
        s.insert_factor(&live).await.unwrap();
        assert!(s.enable_factor(u, live.id, None, t(3)).await.unwrap());
        s.replace_recovery_codes(u, &[hash(), hash()], t(3))
            .await
            .unwrap();
    }
    let kept_factors = s.factors_of(&[kept.id]).await.unwrap();
    assert_eq!(kept_factors.len(), 2);

    s.delete_user(doomed.id, Off).await.unwrap();
    assert!(s.factors_of(&[doomed.id]).await.unwrap().is_empty());
    assert_eq!(s.recovery_codes_left(doomed.id).await.unwrap(), 0);
    // The other user's stay.
    assert_eq!(
        s.factors_of(&[doomed.id, kept.id]).await.unwrap(),
        kept_factors
    );
    assert_eq!(s.recovery_codes_left(kept.id).await.unwrap(), 2);

    // An id once used by a deleted user starts with nothing.
    let mut again = new_user("lee", None);
    again.id = doomed.id;
    s.insert_user(&again).await.unwrap();
    assert!(s.factors_of(&[doomed.id]).await.unwrap().is_empty());
    assert_eq!(s.recovery_codes_left(doomed.id).await.unwrap(), 0);
}

pub async fn mfa_passkey_credentials_are_updated_when_enabled(store: Arc<dyn Store>) {
    let s = &*store;
    let dot = user(s, "dot").await;
    let key = factor(dot.id, FactorKind::Passkey, 1);
    s.insert_factor(&key).await.unwrap();
    // A pending factor keeps its credential.
    assert!(!s
        .update_factor_credential(key.id, "{}", t(2))
        .await
        .unwrap());
    assert_eq!(only(s, dot.id, key.id).await, key);
    assert!(s.enable_factor(dot.id, key.id, None, t(3)).await.unwrap());
    assert!(s
        .update_factor_credential(key.id, r#"{"counter":2}"#, t(4))
        .await
        .unwrap());
    let stored = only(s, dot.id, key.id).await;
    assert_eq!(stored.credential.as_deref(), Some(r#"{"counter":2}"#));
    assert_eq!(stored.updated_at, t(4));
    assert!(!s
        .update_factor_credential(Uuid::now_v7(), "{}", t(5))
        .await
        .unwrap());
}

pub async fn mfa_nonces_are_spent_once(store: Arc<dyn Store>) {
    let s = &*store;
    let (a, b) = ([1u8; 32], [2u8; 32]);
    assert!(s.spend_nonce(&a, t(100)).await.unwrap());
    assert!(!s.spend_nonce(&a, t(100)).await.unwrap());
    assert!(s.spend_nonce(&b, t(300)).await.unwrap());
    // Racing spenders of one nonce: exactly one wins.
    let c = [3u8; 32];
    let wins = futures::future::join_all((0..8).map(|_| {
        let store = Arc::clone(&store);
        async move { store.spend_nonce(&c, t(100)).await.unwrap() }
    }))
    .await;
    assert_eq!(wins.iter().filter(|w| **w).count(), 1);
    // Purged once expired: the records go (and a nonce past its life is
    // refused by its own expiry before it is ever looked up here).
    assert!(s.purge_expired(t(200)).await.unwrap() >= 2);
    assert!(s.spend_nonce(&a, t(400)).await.unwrap());
    assert!(!s.spend_nonce(&b, t(400)).await.unwrap());
}
