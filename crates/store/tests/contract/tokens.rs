//! API tokens and signing keys.

use std::sync::Arc;

use aegis_core::api_token::ApiTokenListing;
use aegis_core::identity::Email;
use aegis_core::store::{AdminGuard, SigningKeyRecord};
use aegis_core::user::{Role, UserUpdate};
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
    let ids = |list: Vec<ApiTokenListing>| list.into_iter().map(|l| l.token.id).collect::<Vec<_>>();
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
    assert_eq!(
        full,
        vec![ApiTokenListing {
            token: tokens[3].clone(),
            created_by_key: "quinn".into(),
        }]
    );
}

pub async fn api_tokens_list_names_the_creator(store: Arc<dyn Store>) {
    let s = &*store;
    let owner = s
        .insert_user(&new_user("sven", Some("sven@example.com")))
        .await
        .unwrap();
    let admin = s
        .insert_user(&new_user("tara", Some("tara@example.com")))
        .await
        .unwrap();
    let bare = s.insert_user(&new_user("uma", None)).await.unwrap();
    let own = api_token(owner.id, "local", 1);
    let mut by_admin = api_token(owner.id, "local", 2);
    by_admin.created_by = Some(admin.id);
    let mut by_operator = api_token(owner.id, "local", 3);
    by_operator.created_by = None;
    let mut by_bare = api_token(owner.id, "local", 4);
    by_bare.created_by = Some(bare.id);
    let mut of_bare = api_token(bare.id, "local", 5);
    of_bare.created_by = None;
    for token in [&own, &by_admin, &by_operator, &by_bare, &of_bare] {
        s.insert_api_token(token).await.unwrap();
    }
    let listed: Vec<(Uuid, String)> = s
        .list_api_tokens("local", None)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.token.id, l.created_by_key))
        .collect();
    let expected = [
        // Login key of an email-less user is the username; the operator's
        // tokens are shown as the owner's.
        (of_bare.id, "uma"),
        (by_bare.id, "uma"),
        (by_operator.id, "sven@example.com"),
        (by_admin.id, "tara@example.com"),
        (own.id, "sven@example.com"),
    ]
    .map(|(id, key)| (id, key.to_owned()));
    assert_eq!(listed, expected);
    // The full record comes back unchanged.
    let mine = s.list_api_tokens("local", Some(bare.id)).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].token, of_bare);

    // The listed key follows a change of the creator's email.
    let update = UserUpdate {
        email: Some(Some(Email::from_stored("t@example.net".to_owned()))),
        ..Default::default()
    };
    s.update_user(admin.id, &update, t(9), AdminGuard::Off)
        .await
        .unwrap();
    let listed = s.list_api_tokens("local", Some(owner.id)).await.unwrap();
    let key = listed.iter().find(|l| l.token.id == by_admin.id).unwrap();
    assert_eq!(key.created_by_key, "t@example.net");
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
