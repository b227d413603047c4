//! API tokens and signing keys.

use std::sync::Arc;

use aegis_core::store::SigningKeyRecord;
use aegis_core::user::Role;
use aegis_core::Store;
use uuid::Uuid;

use crate::fixtures::{api_token, conflict, new_user, not_found, t};

pub async fn api_tokens_round_trip(store: Arc<dyn Store>) {
    let s = &*store;
    let owner = s.insert_user(&new_user("olga", None)).await.unwrap();
    let admin = s.insert_user(&new_user("paul", None)).await.unwrap();
    let mut token = api_token(owner.id, "local", 0);
    token.created_by = Some(admin.id);
    token.role = Role::Admin;
    s.insert_api_token(&token).await.unwrap();
    let mut unnamed = api_token(owner.id, "local", 1);
    unnamed.created_by = None;
    unnamed.name = None;
    s.insert_api_token(&unnamed).await.unwrap();

    assert_eq!(
        s.find_api_token(token.id).await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(
        s.find_api_token_by_hash(&token.hash).await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(
        s.find_api_token(unnamed.id).await.unwrap(),
        Some(unnamed.clone())
    );
    assert_eq!(s.find_api_token(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(s.find_api_token_by_hash(&[2u8; 32]).await.unwrap(), None);

    s.touch_api_token(token.id, t(99)).await.unwrap();
    let touched = s.find_api_token(token.id).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(t(99)));
    assert_eq!(
        not_found(s.touch_api_token(Uuid::now_v7(), t(99)).await),
        "api token"
    );

    let mut twin = api_token(owner.id, "local", 2);
    twin.hash = token.hash;
    assert_eq!(conflict(s.insert_api_token(&twin).await), "api token");
    let orphan = api_token(Uuid::now_v7(), "local", 2);
    assert_eq!(not_found(s.insert_api_token(&orphan).await), "user");

    assert!(s.delete_api_token(token.id).await.unwrap());
    assert!(!s.delete_api_token(token.id).await.unwrap());
    assert_eq!(s.find_api_token_by_hash(&token.hash).await.unwrap(), None);
}

pub async fn api_tokens_list_order_and_filter(store: Arc<dyn Store>) {
    let s = &*store;
    let a = s.insert_user(&new_user("quinn", None)).await.unwrap();
    let b = s.insert_user(&new_user("rita", None)).await.unwrap();
    // Inserted out of order; two share a creation time (ties go by id, newest first).
    let tokens = [
        api_token(a.id, "local", 20),
        api_token(b.id, "local", 10),
        api_token(a.id, "local", 30),
        api_token(a.id, "other", 40),
        api_token(b.id, "local", 30),
    ];
    for token in &tokens {
        s.insert_api_token(token).await.unwrap();
    }
    let ids = |list: Vec<aegis_core::api_token::ApiToken>| {
        list.into_iter().map(|t| t.id).collect::<Vec<_>>()
    };
    let (tie_hi, tie_lo) = if tokens[4].id > tokens[2].id {
        (tokens[4].id, tokens[2].id)
    } else {
        (tokens[2].id, tokens[4].id)
    };
    assert_eq!(
        ids(s.list_api_tokens("local", None).await.unwrap()),
        vec![tie_hi, tie_lo, tokens[0].id, tokens[1].id]
    );
    assert_eq!(
        ids(s.list_api_tokens("local", Some(a.id)).await.unwrap()),
        vec![tokens[2].id, tokens[0].id]
    );
    assert_eq!(
        ids(s.list_api_tokens("other", None).await.unwrap()),
        vec![tokens[3].id]
    );
    assert!(s
        .list_api_tokens("other", Some(b.id))
        .await
        .unwrap()
        .is_empty());
    assert!(s.list_api_tokens("none", None).await.unwrap().is_empty());
    let full = s.list_api_tokens("other", Some(a.id)).await.unwrap();
    assert_eq!(full, vec![tokens[3].clone()]);
}

pub async fn signing_keys_round_trip(store: Arc<dyn Store>) {
    let s = &*store;
    assert!(s.list_signing_keys().await.unwrap().is_empty());
    let key = |kid: &str, at: i64| SigningKeyRecord {
        kid: kid.to_owned(),
        algorithm: "EdDSA".to_owned(),
        public_key: vec![1, 2, 3, at as u8],
        private_key_enc: vec![0, 255, 7, at as u8, 9],
        created_at: t(at),
    };
    let newer = key("k-newer", 50);
    let older = key("k-older", 10);
    s.insert_signing_key(&newer).await.unwrap();
    s.insert_signing_key(&older).await.unwrap();
    assert_eq!(
        s.list_signing_keys().await.unwrap(),
        vec![older, newer.clone()]
    );
    assert_eq!(conflict(s.insert_signing_key(&newer).await), "kid");
}
