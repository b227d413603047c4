//! The OpenID Connect provider's records: clients round-trip and conflict,
//! their deletion revokes their sessions and takes consents and codes along;
//! consents are replaced, listed and withdrawn (revoking only that user's
//! sessions of the client); codes are used once, even under a race, and go
//! with their user or once expired; a session keeps the client it was opened for.

use std::collections::BTreeSet;
use std::sync::Arc;

use aegis_core::keys::SigningAlg;
use aegis_core::oidc::{AuthCode, Client, CodeUse, Consent, Grant};
use aegis_core::session::{Session, SessionQuery};
use aegis_core::store::AdminGuard::Off;
use aegis_core::Store;
use uuid::Uuid;

use crate::fixtures::{conflict, hash, new_user, not_found, session, t};

/// A confidential client with every field set but `jwks`.
fn client(id: &str, name: &str) -> Client {
    Client {
        id: id.to_owned(),
        name: name.to_owned(),
        secret_hash: Some(hash()),
        redirect_uris: vec![
            format!("https://{id}.example/cb"),
            "http://127.0.0.1/cb".to_owned(),
        ],
        post_logout_redirect_uris: vec![format!("https://{id}.example/bye")],
        public: false,
        first_party: false,
        grants: vec![Grant::AuthorizationCode, Grant::RefreshToken],
        id_token_alg: SigningAlg::Rs256,
        jwks: None,
        scopes: Vec::new(),
        created_at: t(0),
        updated_at: t(0),
    }
}

/// A public client: no secret, its keys as a JWK set, no logout URIs.
fn public_client(id: &str, name: &str) -> Client {
    Client {
        secret_hash: None,
        post_logout_redirect_uris: vec![],
        public: true,
        first_party: true,
        grants: vec![Grant::AuthorizationCode],
        id_token_alg: SigningAlg::EdDsa,
        jwks: Some(r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"abc"}]}"#.to_owned()),
        scopes: vec!["reports:read".into(), "reports:write".into()],
        ..client(id, name)
    }
}

fn consent(user_id: Uuid, client_id: &str, scopes: &[&str], at: i64) -> Consent {
    Consent {
        user_id,
        client_id: client_id.to_owned(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        granted_at: t(at),
    }
}

/// An unused code of a client's session, issued at `t(0)`, expiring at `t(expires)`.
fn code(client_id: &str, user_id: Uuid, session_id: Uuid, expires: i64) -> AuthCode {
    AuthCode {
        hash: hash(),
        client_id: client_id.to_owned(),
        user_id,
        session_id,
        redirect_uri: format!("https://{client_id}.example/cb"),
        scopes: vec!["openid".to_owned(), "profile".to_owned()],
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        auth_time: t(-5),
        created_at: t(0),
        expires_at: t(expires),
        used_at: None,
    }
}

/// Opens a live session of `user` for `client` (or for aegis itself).
async fn open(s: &dyn Store, user: Uuid, client: Option<&str>) -> Session {
    let (mut sess, refresh) = session(user);
    sess.client_id = client.map(str::to_owned);
    if client.is_some() {
        sess.scopes = vec!["openid".into(), "email".into()];
    }
    s.insert_session(&sess, &refresh).await.unwrap();
    sess
}

async fn user(s: &dyn Store, name: &str) -> Uuid {
    s.insert_user(&new_user(name, None)).await.unwrap().id
}

fn ids(v: impl IntoIterator<Item = Uuid>) -> BTreeSet<Uuid> {
    v.into_iter().collect()
}

pub async fn oidc_clients_round_trip(store: Arc<dyn Store>) {
    let s = &*store;
    // Names sort bytewise (capitals first), equal names by id.
    let zeta = client("aegis-c", "Zeta");
    let alpha_b = public_client("aegis-b", "alpha");
    let alpha_a = client("aegis-a", "alpha");
    for c in [&zeta, &alpha_b, &alpha_a] {
        s.insert_client(c).await.unwrap();
    }
    assert_eq!(
        s.find_client("aegis-b").await.unwrap(),
        Some(alpha_b.clone())
    );
    assert_eq!(s.find_client("aegis-c").await.unwrap(), Some(zeta.clone()));
    assert_eq!(s.find_client("aegis-z").await.unwrap(), None);
    assert_eq!(
        s.list_clients().await.unwrap(),
        vec![zeta.clone(), alpha_a.clone(), alpha_b.clone()]
    );

    // A taken id is a conflict and changes nothing.
    let taken = client("aegis-c", "Other");
    assert_eq!(conflict(s.insert_client(&taken).await), "client_id");
    assert_eq!(s.find_client("aegis-c").await.unwrap(), Some(zeta.clone()));

    // An update replaces everything but the id and the creation time.
    let changed = Client {
        name: "Zeta 2".to_owned(),
        secret_hash: None,
        redirect_uris: vec!["com.example.app:/cb".to_owned()],
        post_logout_redirect_uris: vec![],
        public: true,
        first_party: true,
        grants: vec![Grant::ClientCredentials],
        id_token_alg: SigningAlg::Es256,
        jwks: Some(r#"{"keys":[]}"#.to_owned()),
        scopes: vec!["a".into()],
        created_at: t(99),
        updated_at: t(100),
        ..zeta.clone()
    };
    s.update_client(&changed).await.unwrap();
    let want = Client {
        created_at: zeta.created_at,
        ..changed.clone()
    };
    assert_eq!(s.find_client("aegis-c").await.unwrap(), Some(want.clone()));
    // And back: a secret, no keys, every grant.
    let back = Client {
        secret_hash: Some(hash()),
        jwks: None,
        scopes: Vec::new(),
        grants: Grant::ALL.to_vec(),
        updated_at: t(101),
        ..want.clone()
    };
    s.update_client(&back).await.unwrap();
    assert_eq!(s.find_client("aegis-c").await.unwrap(), Some(back.clone()));
    assert_eq!(
        not_found(s.update_client(&client("aegis-z", "Nobody")).await),
        "client"
    );
    assert_eq!(s.find_client("aegis-z").await.unwrap(), None);
}

pub async fn oidc_client_deletion_revokes_its_sessions(store: Arc<dyn Store>) {
    let s = &*store;
    let (x, y) = (client("aegis-x", "X"), client("aegis-y", "Y"));
    s.insert_client(&x).await.unwrap();
    s.insert_client(&y).await.unwrap();
    let (u1, u2) = (user(s, "olga").await, user(s, "pavel").await);

    let u1_x = open(s, u1, Some("aegis-x")).await;
    let u2_x = open(s, u2, Some("aegis-x")).await;
    let earlier = open(s, u1, Some("aegis-x")).await;
    assert!(s.revoke_session(earlier.id, t(5)).await.unwrap());
    let u1_y = open(s, u1, Some("aegis-y")).await;
    let own = open(s, u1, None).await;
    // A session keeps the client it was opened for, in a listing too.
    assert_eq!(s.find_session(u1_x.id).await.unwrap(), Some(u1_x.clone()));
    assert_eq!(s.find_session(own.id).await.unwrap(), Some(own.clone()));
    let listed = s
        .query_sessions(
            &SessionQuery {
                user: Some(u1),
                size: 100,
                ..Default::default()
            },
            t(10),
        )
        .await
        .unwrap();
    let listed: BTreeSet<(Uuid, Option<String>)> = listed
        .items
        .into_iter()
        .map(|(sess, _)| (sess.id, sess.client_id))
        .collect();
    let want: BTreeSet<_> = [&u1_x, &u1_y, &own]
        .into_iter()
        .map(|sess| (sess.id, sess.client_id.clone()))
        .collect();
    assert_eq!(listed, want);
    // A session of an unknown client is refused, and nothing is left of it.
    let (mut stray, stray_refresh) = session(u1);
    stray.client_id = Some("aegis-z".to_owned());
    assert_eq!(
        not_found(s.insert_session(&stray, &stray_refresh).await),
        "client"
    );
    assert_eq!(s.find_session(stray.id).await.unwrap(), None);
    assert_eq!(
        s.find_refresh_token(&stray_refresh.hash).await.unwrap(),
        None
    );

    s.upsert_consent(&consent(u1, "aegis-x", &["openid"], 1))
        .await
        .unwrap();
    s.upsert_consent(&consent(u1, "aegis-y", &["openid"], 1))
        .await
        .unwrap();
    let x_code = code("aegis-x", u1, u1_x.id, 600);
    let y_code = code("aegis-y", u1, u1_y.id, 600);
    s.insert_auth_code(&x_code).await.unwrap();
    s.insert_auth_code(&y_code).await.unwrap();

    let revoked = s.delete_client("aegis-x", t(50)).await.unwrap().unwrap();
    assert_eq!(ids(revoked), ids([u1_x.id, u2_x.id]));
    assert_eq!(s.find_client("aegis-x").await.unwrap(), None);
    // Its sessions stay, revoked, still naming the client; an earlier
    // revocation keeps its time; other sessions are untouched.
    for sess in [&u1_x, &u2_x] {
        let want = Session {
            revoked_at: Some(t(50)),
            ..sess.clone()
        };
        assert_eq!(s.find_session(sess.id).await.unwrap(), Some(want));
    }
    let found = s.find_session(earlier.id).await.unwrap().unwrap();
    assert_eq!(found.revoked_at, Some(t(5)));
    assert_eq!(s.find_session(u1_y.id).await.unwrap(), Some(u1_y.clone()));
    assert_eq!(s.find_session(own.id).await.unwrap(), Some(own.clone()));
    // Its consents and codes went; the other client's stay.
    assert_eq!(s.find_consent(u1, "aegis-x").await.unwrap(), None);
    assert!(s.find_consent(u1, "aegis-y").await.unwrap().is_some());
    assert_eq!(s.use_auth_code(&x_code.hash, t(60)).await.unwrap(), None);
    assert!(matches!(
        s.use_auth_code(&y_code.hash, t(60)).await.unwrap(),
        Some(CodeUse::First(_))
    ));
    // A second deletion finds nothing; the id may be registered again, and
    // the old sessions stay revoked.
    assert_eq!(s.delete_client("aegis-x", t(70)).await.unwrap(), None);
    s.insert_client(&x).await.unwrap();
    assert_eq!(
        s.find_session(u1_x.id).await.unwrap().unwrap().revoked_at,
        Some(t(50))
    );
    assert_eq!(
        s.delete_client("aegis-x", t(80)).await.unwrap(),
        Some(vec![])
    );
}

pub async fn oidc_consents_round_trip_and_withdrawal(store: Arc<dyn Store>) {
    let s = &*store;
    for id in ["aegis-b", "aegis-a", "aegis-c"] {
        s.insert_client(&client(id, id)).await.unwrap();
    }
    let (u1, u2) = (user(s, "quinn").await, user(s, "rosa").await);

    let first = consent(u1, "aegis-b", &["openid"], 1);
    s.upsert_consent(&first).await.unwrap();
    assert_eq!(
        s.find_consent(u1, "aegis-b").await.unwrap(),
        Some(first.clone())
    );
    // Consenting again replaces the scopes and the time.
    let again = consent(u1, "aegis-b", &["email", "openid", "profile"], 2);
    s.upsert_consent(&again).await.unwrap();
    assert_eq!(
        s.find_consent(u1, "aegis-b").await.unwrap(),
        Some(again.clone())
    );
    let a = consent(u1, "aegis-a", &[], 3);
    s.upsert_consent(&a).await.unwrap();
    let other = consent(u2, "aegis-b", &["openid"], 4);
    s.upsert_consent(&other).await.unwrap();
    assert_eq!(
        s.list_consents(u1).await.unwrap(),
        vec![a.clone(), again.clone()]
    );
    assert_eq!(s.list_consents(u2).await.unwrap(), vec![other.clone()]);
    assert_eq!(s.list_consents(Uuid::now_v7()).await.unwrap(), vec![]);
    assert_eq!(s.find_consent(u1, "aegis-c").await.unwrap(), None);
    assert_eq!(s.find_consent(u2, "aegis-a").await.unwrap(), None);

    // A consent names an existing client and user.
    assert_eq!(
        not_found(s.upsert_consent(&consent(u1, "aegis-z", &[], 5)).await),
        "client"
    );
    assert_eq!(
        not_found(
            s.upsert_consent(&consent(Uuid::now_v7(), "aegis-a", &[], 5))
                .await
        ),
        "user"
    );

    // Withdrawing revokes that user's sessions of that client only.
    let u1_b = open(s, u1, Some("aegis-b")).await;
    let u1_b2 = open(s, u1, Some("aegis-b")).await;
    let u1_a = open(s, u1, Some("aegis-a")).await;
    let u2_b = open(s, u2, Some("aegis-b")).await;
    let u1_own = open(s, u1, None).await;
    let revoked = s
        .delete_consent(u1, "aegis-b", t(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids(revoked), ids([u1_b.id, u1_b2.id]));
    for sess in [&u1_b, &u1_b2] {
        let found = s.find_session(sess.id).await.unwrap().unwrap();
        assert_eq!(found.revoked_at, Some(t(20)));
    }
    for sess in [&u1_a, &u2_b, &u1_own] {
        assert_eq!(s.find_session(sess.id).await.unwrap(), Some(sess.clone()));
    }
    assert_eq!(s.find_consent(u1, "aegis-b").await.unwrap(), None);
    assert_eq!(s.list_consents(u1).await.unwrap(), vec![a.clone()]);
    assert_eq!(s.list_consents(u2).await.unwrap(), vec![other]);
    // No consent: nothing is revoked.
    assert_eq!(s.delete_consent(u1, "aegis-b", t(30)).await.unwrap(), None);
    assert_eq!(s.delete_consent(u1, "aegis-c", t(30)).await.unwrap(), None);
    assert_eq!(s.find_session(u1_a.id).await.unwrap(), Some(u1_a.clone()));
    // A consent without live sessions is withdrawn all the same.
    assert_eq!(
        s.delete_consent(u2, "aegis-b", t(40)).await.unwrap(),
        Some(vec![u2_b.id])
    );
    assert_eq!(
        s.delete_consent(u1, "aegis-a", t(40)).await.unwrap(),
        Some(vec![u1_a.id])
    );
    s.upsert_consent(&consent(u1, "aegis-c", &["openid"], 41))
        .await
        .unwrap();
    assert_eq!(
        s.delete_consent(u1, "aegis-c", t(42)).await.unwrap(),
        Some(vec![])
    );
}

pub async fn oidc_codes_are_used_once(store: Arc<dyn Store>) {
    let s = &*store;
    s.insert_client(&client("aegis-a", "A")).await.unwrap();
    let u = user(s, "sara").await;
    let sess = open(s, u, Some("aegis-a")).await;

    let issued = code("aegis-a", u, sess.id, 600);
    s.insert_auth_code(&issued).await.unwrap();
    // The same hash twice is a conflict, not a second code.
    assert!(s.insert_auth_code(&issued).await.is_err());
    let bare = AuthCode {
        nonce: None,
        code_challenge: None,
        scopes: vec![],
        ..code("aegis-a", u, sess.id, 600)
    };
    s.insert_auth_code(&bare).await.unwrap();

    let spent = AuthCode {
        used_at: Some(t(10)),
        ..issued.clone()
    };
    assert_eq!(
        s.use_auth_code(&issued.hash, t(10)).await.unwrap(),
        Some(CodeUse::First(spent.clone()))
    );
    // A replay finds the code as the first use left it.
    assert_eq!(
        s.use_auth_code(&issued.hash, t(11)).await.unwrap(),
        Some(CodeUse::Again(spent.clone()))
    );
    assert_eq!(
        s.use_auth_code(&issued.hash, t(12)).await.unwrap(),
        Some(CodeUse::Again(spent))
    );
    assert_eq!(
        s.use_auth_code(&bare.hash, t(13)).await.unwrap(),
        Some(CodeUse::First(AuthCode {
            used_at: Some(t(13)),
            ..bare
        }))
    );
    assert_eq!(s.use_auth_code(&hash(), t(10)).await.unwrap(), None);
    // Expiry is the caller's to check: an expired code is still marked.
    let late = code("aegis-a", u, sess.id, 5);
    s.insert_auth_code(&late).await.unwrap();
    assert!(matches!(
        s.use_auth_code(&late.hash, t(10)).await.unwrap(),
        Some(CodeUse::First(_))
    ));

    // Codes name an existing client, user and session.
    let orphans = [
        ("client", code("aegis-z", u, sess.id, 600)),
        ("user", code("aegis-a", Uuid::now_v7(), sess.id, 600)),
        ("session", code("aegis-a", u, Uuid::now_v7(), 600)),
    ];
    for (missing, orphan) in orphans {
        assert_eq!(not_found(s.insert_auth_code(&orphan).await), missing);
        assert_eq!(s.use_auth_code(&orphan.hash, t(10)).await.unwrap(), None);
    }
}

pub async fn oidc_code_race_has_one_winner(store: Arc<dyn Store>) {
    store.insert_client(&client("aegis-a", "A")).await.unwrap();
    let u = user(&*store, "tina").await;
    let sess = open(&*store, u, Some("aegis-a")).await;
    for round in 0..10 {
        let issued = code("aegis-a", u, sess.id, 600);
        store.insert_auth_code(&issued).await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|k| {
                let store = Arc::clone(&store);
                let hash = issued.hash;
                tokio::spawn(async move { store.use_auth_code(&hash, t(round * 10 + k)).await })
            })
            .collect();
        let mut firsts = Vec::new();
        let mut agains = Vec::new();
        for task in tasks {
            match task.await.unwrap().unwrap() {
                Some(CodeUse::First(c)) => firsts.push(c),
                Some(CodeUse::Again(c)) => agains.push(c),
                None => panic!("round {round}: the code vanished"),
            }
        }
        assert_eq!(firsts.len(), 1, "round {round}: {firsts:?}");
        assert_eq!(agains.len(), 7);
        let winner = &firsts[0];
        assert!(winner.used_at.is_some());
        // Every loser saw the code as the winner spent it.
        assert!(agains.iter().all(|c| c == winner), "round {round}");
    }
}

pub async fn oidc_follows_user_deletion(store: Arc<dyn Store>) {
    let s = &*store;
    s.insert_client(&client("aegis-a", "A")).await.unwrap();
    let (gone, kept) = (user(s, "uma").await, user(s, "vince").await);
    let gone_sess = open(s, gone, Some("aegis-a")).await;
    let kept_sess = open(s, kept, Some("aegis-a")).await;
    s.upsert_consent(&consent(gone, "aegis-a", &["openid"], 1))
        .await
        .unwrap();
    let kept_consent = consent(kept, "aegis-a", &["openid"], 1);
    s.upsert_consent(&kept_consent).await.unwrap();
    let gone_code = code("aegis-a", gone, gone_sess.id, 600);
    let kept_code = code("aegis-a", kept, kept_sess.id, 600);
    s.insert_auth_code(&gone_code).await.unwrap();
    s.insert_auth_code(&kept_code).await.unwrap();

    s.delete_user(gone, Off).await.unwrap();
    assert_eq!(s.list_consents(gone).await.unwrap(), vec![]);
    assert_eq!(s.find_consent(gone, "aegis-a").await.unwrap(), None);
    assert_eq!(s.use_auth_code(&gone_code.hash, t(5)).await.unwrap(), None);
    assert_eq!(s.list_consents(kept).await.unwrap(), vec![kept_consent]);
    assert!(matches!(
        s.use_auth_code(&kept_code.hash, t(5)).await.unwrap(),
        Some(CodeUse::First(_))
    ));
    assert!(s.find_client("aegis-a").await.unwrap().is_some());

    // A code goes with its session too.
    let other = code("aegis-a", kept, kept_sess.id, 600);
    s.insert_auth_code(&other).await.unwrap();
    s.delete_user(kept, Off).await.unwrap();
    assert_eq!(s.use_auth_code(&other.hash, t(6)).await.unwrap(), None);
}

pub async fn oidc_sessions_end_with_their_browser_session(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let ann = user(s, "ann").await;
    s.insert_client(&client("oc_a", "A")).await.unwrap();
    let browser = open(s, ann, None).await;
    let (mut child, refresh) = session(ann);
    child.client_id = Some("oc_a".into());
    child.scopes = vec!["openid".into()];
    child.parent_id = Some(browser.id);
    s.insert_session(&child, &refresh).await.unwrap();
    let other = open(s, ann, Some("oc_a")).await;
    assert_eq!(
        s.find_child_session(browser.id, "oc_a").await.unwrap(),
        Some(child.clone())
    );
    assert_eq!(
        s.find_child_session(browser.id, "oc_b").await.unwrap(),
        None
    );
    // Revoking the browser session revokes the one opened from it, not others.
    assert!(s.revoke_session(browser.id, t(9)).await.unwrap());
    assert_eq!(
        s.find_session(child.id).await.unwrap().unwrap().revoked_at,
        Some(t(9))
    );
    assert_eq!(
        s.find_session(other.id).await.unwrap().unwrap().revoked_at,
        None
    );
    assert_eq!(
        s.find_child_session(browser.id, "oc_a").await.unwrap(),
        None
    );
    // Revoking a child alone says so; revoking it again does not.
    assert!(s.revoke_session(other.id, t(10)).await.unwrap());
    assert!(!s.revoke_session(other.id, t(11)).await.unwrap());
}

pub async fn oidc_purge_removes_ended_codes(store: Arc<dyn Store>) {
    let s = &*store;
    s.insert_client(&client("aegis-a", "A")).await.unwrap();
    let u = user(s, "wanda").await;
    // The fixture's session lives until t(3600), its refresh token until t(600).
    let sess = open(s, u, Some("aegis-a")).await;
    let old = code("aegis-a", u, sess.id, 100);
    let edge = code("aegis-a", u, sess.id, 150);
    let live = code("aegis-a", u, sess.id, 1000);
    for c in [&old, &edge, &live] {
        s.insert_auth_code(c).await.unwrap();
    }
    // A live code of a session that ended goes with it (and is counted).
    let (mut ended, ended_refresh) = session(u);
    ended.client_id = Some("aegis-a".to_owned());
    ended.expires_at = t(100);
    s.insert_session(&ended, &ended_refresh).await.unwrap();
    let orphaned = code("aegis-a", u, ended.id, 1000);
    s.insert_auth_code(&orphaned).await.unwrap();

    // 2 codes + 1 session + its refresh token.
    assert_eq!(s.purge_expired(t(150)).await.unwrap(), 4);
    assert_eq!(s.use_auth_code(&old.hash, t(200)).await.unwrap(), None);
    assert_eq!(s.use_auth_code(&orphaned.hash, t(200)).await.unwrap(), None);
    assert_eq!(s.find_session(ended.id).await.unwrap(), None);
    for c in [&edge, &live] {
        assert!(matches!(
            s.use_auth_code(&c.hash, t(200)).await.unwrap(),
            Some(CodeUse::First(_))
        ));
    }
    assert_eq!(s.purge_expired(t(150)).await.unwrap(), 0);
}
