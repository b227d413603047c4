//! Users: identifiers, partial updates, deletion and counters.

use std::collections::BTreeMap;
use std::sync::Arc;

use aegis_core::identity::{Email, Username};
use aegis_core::store::AdminGuard::Off;
use aegis_core::user::{Role, UserUpdate};
use aegis_core::Store;
use uuid::Uuid;

use crate::fixtures::{api_token, conflict, new_user, not_found, session, t};

fn username(v: &str) -> Username {
    Username::parse(v).unwrap()
}

fn email(v: &str) -> Email {
    Email::parse(v).unwrap()
}

pub async fn users_round_trip(store: Arc<dyn Store>) {
    let s = &*store;
    s.ping().await.unwrap();
    let new = new_user("alice", Some("alice@example.com"));
    let user = s.insert_user(&new).await.unwrap();
    assert_eq!(user.id, new.id);
    assert!(user.num_id > 0);
    assert_eq!(user.username, new.username);
    assert_eq!(user.email, new.email);
    assert_eq!(user.profile, new.profile);
    assert_eq!(user.role, Role::User);
    assert!(user.active && !user.verified && !user.password_expired);
    assert_eq!((user.created_at, user.updated_at), (t(0), t(0)));
    assert_eq!(
        (user.last_login_at, user.last_login_ip.as_deref()),
        (None, None)
    );
    assert_eq!(user.login_count, 0);

    assert_eq!(s.get_user(new.id).await.unwrap(), user);
    assert_eq!(s.find_user(new.id).await.unwrap(), Some(user.clone()));
    for ident in ["alice", "alice@example.com"] {
        let (found, hash) = s.find_user_by_identifier(ident).await.unwrap().unwrap();
        assert_eq!(found, user);
        assert_eq!(hash, new.password_hash);
    }
    assert_eq!(s.find_user_by_identifier("bob").await.unwrap(), None);
    assert_eq!(
        s.get_password_hash(new.id).await.unwrap(),
        new.password_hash
    );

    let mut bare = new_user("nopass", None);
    bare.password_hash = None;
    bare.profile = BTreeMap::new();
    let bare = s.insert_user(&bare).await.unwrap();
    assert!(bare.num_id > user.num_id);
    assert_eq!(bare.email, None);
    assert!(bare.profile.is_empty());
    assert_eq!(s.get_password_hash(bare.id).await.unwrap(), None);

    let nobody = Uuid::now_v7();
    assert_eq!(not_found(s.get_user(nobody).await), "user");
    assert_eq!(s.find_user(nobody).await.unwrap(), None);
    assert_eq!(not_found(s.get_password_hash(nobody).await), "user");
}

pub async fn identifiers_are_unique_across_each_other(store: Arc<dyn Store>) {
    let s = &*store;
    let a = s
        .insert_user(&new_user("a", Some("a@example.com")))
        .await
        .unwrap();
    let cases = [
        (new_user("a", None), "username"),
        (new_user("a@example.com", None), "username"),
        (new_user("b", Some("a@example.com")), "email"),
        (new_user("b", Some("a")), "email"),
    ];
    for (attempt, field) in cases {
        assert_eq!(
            conflict(s.insert_user(&attempt).await),
            field,
            "{attempt:?}"
        );
        assert_eq!(s.find_user(attempt.id).await.unwrap(), None);
    }
    // Nothing of the failed inserts is left behind.
    let b = s
        .insert_user(&new_user("b", Some("b@example.com")))
        .await
        .unwrap();
    assert!(b.num_id > a.num_id);
}

pub async fn username_may_equal_own_email(store: Arc<dyn Store>) {
    let s = &*store;
    let new = new_user("same@example.com", Some("same@example.com"));
    let user = s.insert_user(&new).await.unwrap();
    let (found, _) = s
        .find_user_by_identifier("same@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, user);
    let other = new_user("other", Some("same@example.com"));
    assert_eq!(conflict(s.insert_user(&other).await), "email");

    // Clearing the email keeps the username as an identifier.
    let clear = UserUpdate {
        email: Some(None),
        ..Default::default()
    };
    let user = s.update_user(user.id, &clear, t(1), Off).await.unwrap();
    assert_eq!(user.email, None);
    assert!(s
        .find_user_by_identifier("same@example.com")
        .await
        .unwrap()
        .is_some());
    // Setting it back to the username is still allowed.
    let back = UserUpdate {
        email: Some(Some(email("same@example.com"))),
        ..Default::default()
    };
    let user = s.update_user(user.id, &back, t(2), Off).await.unwrap();
    assert_eq!(user.email, Some(email("same@example.com")));
}

pub async fn update_changes_only_given_fields(store: Arc<dyn Store>) {
    let s = &*store;
    let new = new_user("carol", Some("carol@example.com"));
    let before = s.insert_user(&new).await.unwrap();

    let nothing = s
        .update_user(before.id, &UserUpdate::default(), t(5), Off)
        .await
        .unwrap();
    assert_eq!(nothing.updated_at, t(5));
    // Only updated_at moves.
    assert_eq!(
        aegis_core::User {
            updated_at: t(0),
            ..nothing
        },
        before
    );

    let profile = BTreeMap::from([("team".to_owned(), "ops".to_owned())]);
    let update = UserUpdate {
        username: Some(username("caroline")),
        email: Some(Some(email("caroline@example.com"))),
        password_hash: Some(Some("$argon2id$new".into())),
        phone: Some(Some("+15550100".into())),
        profile: Some(profile.clone()),
        role: Some(Role::Admin),
        active: Some(false),
        verified: Some(true),
        password_expired: Some(true),
    };
    let after = s.update_user(before.id, &update, t(10), Off).await.unwrap();
    assert_eq!(after.id, before.id);
    assert_eq!(after.num_id, before.num_id);
    assert_eq!(after.username, username("caroline"));
    assert_eq!(after.email, Some(email("caroline@example.com")));
    assert_eq!(after.profile, profile);
    assert_eq!(after.role, Role::Admin);
    assert!(!after.active && after.verified && after.password_expired);
    assert_eq!((after.created_at, after.updated_at), (t(0), t(10)));
    assert_eq!(after.phone.as_deref(), Some("+15550100"));
    assert_eq!(after.password_set_at, Some(t(10)));
    assert_eq!(s.get_user(before.id).await.unwrap(), after);
    assert_eq!(
        s.get_password_hash(before.id).await.unwrap().as_deref(),
        Some("$argon2id$new")
    );

    // Identifiers follow: the old ones are free, the new ones find the user.
    for old in ["carol", "carol@example.com"] {
        assert_eq!(s.find_user_by_identifier(old).await.unwrap(), None);
    }
    for new in ["caroline", "caroline@example.com"] {
        let (found, _) = s.find_user_by_identifier(new).await.unwrap().unwrap();
        assert_eq!(found.id, before.id);
    }
    s.insert_user(&new_user("carol", Some("carol@example.com")))
        .await
        .unwrap();

    // Some(None) clears the email and only the email.
    let cleared = s
        .update_user(
            before.id,
            &UserUpdate {
                email: Some(None),
                ..Default::default()
            },
            t(11),
            Off,
        )
        .await
        .unwrap();
    assert_eq!(cleared.email, None);
    assert_eq!(cleared.username, after.username);
    assert_eq!(cleared.role, Role::Admin);
    assert_eq!(
        s.find_user_by_identifier("caroline@example.com")
            .await
            .unwrap(),
        None
    );
}

pub async fn update_conflict_leaves_record_untouched(store: Arc<dyn Store>) {
    let s = &*store;
    let a = s
        .insert_user(&new_user("dave", Some("dave@example.com")))
        .await
        .unwrap();
    let b = s
        .insert_user(&new_user("erin", Some("erin@example.com")))
        .await
        .unwrap();
    let attempts = [
        (Some("dave"), None, "username"),
        (Some("dave@example.com"), None, "username"),
        (None, Some("dave@example.com"), "email"),
        (None, Some("dave"), "email"),
        (Some("erin2"), Some("dave@example.com"), "email"),
        (Some("dave"), Some("erin3@example.com"), "username"),
    ];
    for (new_name, new_email, field) in attempts {
        let update = UserUpdate {
            username: new_name.map(username),
            email: new_email.map(|e| Some(Email::from_stored(e.to_owned()))),
            role: Some(Role::Admin),
            ..Default::default()
        };
        assert_eq!(
            conflict(s.update_user(b.id, &update, t(9), Off).await),
            field
        );
        assert_eq!(s.get_user(b.id).await.unwrap(), b);
        assert_eq!(s.get_user(a.id).await.unwrap(), a);
        for ident in ["erin", "erin@example.com"] {
            let (found, _) = s.find_user_by_identifier(ident).await.unwrap().unwrap();
            assert_eq!(found.id, b.id);
        }
        assert_eq!(s.find_user_by_identifier("erin2").await.unwrap(), None);
    }
}

pub async fn update_and_delete_unknown_user(store: Arc<dyn Store>) {
    let s = &*store;
    let nobody = Uuid::now_v7();
    let update = UserUpdate {
        username: Some(username("ghost")),
        ..Default::default()
    };
    assert_eq!(
        not_found(s.update_user(nobody, &update, t(1), Off).await),
        "user"
    );
    assert_eq!(not_found(s.delete_user(nobody, Off).await), "user");
    assert_eq!(not_found(s.record_login(nobody, t(1), None).await), "user");
    assert_eq!(s.find_user_by_identifier("ghost").await.unwrap(), None);
}

pub async fn delete_cascades(store: Arc<dyn Store>) {
    let s = &*store;
    let doomed = s
        .insert_user(&new_user("frank", Some("frank@example.com")))
        .await
        .unwrap();
    let other = s.insert_user(&new_user("grace", None)).await.unwrap();
    let (sess, refresh) = session(doomed.id);
    s.insert_session(&sess, &refresh).await.unwrap();
    let owned = api_token(doomed.id, "local", 1);
    s.insert_api_token(&owned).await.unwrap();
    let mut minted = api_token(other.id, "local", 2);
    minted.created_by = Some(doomed.id);
    s.insert_api_token(&minted).await.unwrap();
    let (kept_session, kept_refresh) = session(other.id);
    s.insert_session(&kept_session, &kept_refresh)
        .await
        .unwrap();
    let kept_token = api_token(other.id, "local", 3);
    s.insert_api_token(&kept_token).await.unwrap();

    s.delete_user(doomed.id, Off).await.unwrap();
    assert_eq!(s.find_user(doomed.id).await.unwrap(), None);
    assert_eq!(s.find_session(sess.id).await.unwrap(), None);
    assert_eq!(s.find_refresh_token(&refresh.hash).await.unwrap(), None);
    assert_eq!(s.find_api_token(owned.id).await.unwrap(), None);
    assert_eq!(s.find_api_token(minted.id).await.unwrap(), None);
    assert_eq!(s.find_user_by_identifier("frank").await.unwrap(), None);
    assert_eq!(not_found(s.delete_user(doomed.id, Off).await), "user");

    // Everything of the other user stays.
    assert!(s.find_session(kept_session.id).await.unwrap().is_some());
    assert!(s
        .find_refresh_token(&kept_refresh.hash)
        .await
        .unwrap()
        .is_some());
    assert!(s.find_api_token(kept_token.id).await.unwrap().is_some());
    // The identifiers are free again.
    s.insert_user(&new_user("frank@example.com", Some("frank")))
        .await
        .unwrap();
}

pub async fn num_id_is_never_reused(store: Arc<dyn Store>) {
    let s = &*store;
    let a = s.insert_user(&new_user("h1", None)).await.unwrap();
    let b = s.insert_user(&new_user("h2", None)).await.unwrap();
    assert!(b.num_id > a.num_id);
    s.delete_user(b.id, Off).await.unwrap();
    let c = s.insert_user(&new_user("h3", None)).await.unwrap();
    assert!(
        c.num_id > b.num_id,
        "{} reused after {}",
        c.num_id,
        b.num_id
    );
}

pub async fn logins_and_admin_count(store: Arc<dyn Store>) {
    let s = &*store;
    assert_eq!(s.count_active_admins().await.unwrap(), 0);
    let mut admin = new_user("root", None);
    admin.role = Role::Admin;
    let admin = s.insert_user(&admin).await.unwrap();
    let mut idle = new_user("root2", None);
    idle.role = Role::Admin;
    idle.active = false;
    s.insert_user(&idle).await.unwrap();
    s.insert_user(&new_user("plain", None)).await.unwrap();
    assert_eq!(s.count_active_admins().await.unwrap(), 1);

    s.record_login(admin.id, t(20), Some("192.0.2.1"))
        .await
        .unwrap();
    s.record_login(admin.id, t(30), None).await.unwrap();
    let after = s.get_user(admin.id).await.unwrap();
    assert_eq!(after.login_count, 2);
    assert_eq!(after.last_login_at, Some(t(30)));
    assert_eq!(after.last_login_ip, None);
    assert_eq!(after.updated_at, admin.updated_at);
    s.record_login(admin.id, t(40), Some("2001:db8::1"))
        .await
        .unwrap();
    let after = s.get_user(admin.id).await.unwrap();
    assert_eq!(after.login_count, 3);
    assert_eq!(after.last_login_ip.as_deref(), Some("2001:db8::1"));

    let demote = UserUpdate {
        role: Some(Role::View),
        ..Default::default()
    };
    s.update_user(admin.id, &demote, t(50), Off).await.unwrap();
    assert_eq!(s.count_active_admins().await.unwrap(), 0);
}

pub async fn password_set_at_and_phone(store: Arc<dyn Store>) {
    let s = &*store;
    // A password set at creation dates from the creation.
    let mut new = new_user("ivy", None);
    new.created_at = t(3);
    let ivy = s.insert_user(&new).await.unwrap();
    assert_eq!(ivy.password_set_at, Some(t(3)));
    assert_eq!(ivy.phone, None);
    let mut bare = new_user("jack", None);
    bare.password_hash = None;
    let jack = s.insert_user(&bare).await.unwrap();
    assert_eq!(jack.password_set_at, None);

    // Other changes leave both alone.
    let other = UserUpdate {
        verified: Some(true),
        ..Default::default()
    };
    let ivy = s.update_user(ivy.id, &other, t(4), Off).await.unwrap();
    assert_eq!(ivy.password_set_at, Some(t(3)));
    assert_eq!(
        s.get_password_hash(ivy.id).await.unwrap(),
        new.password_hash
    );

    // A new password dates from the update.
    let set = UserUpdate {
        password_hash: Some(Some("$argon2id$second".into())),
        ..Default::default()
    };
    let ivy = s.update_user(ivy.id, &set, t(5), Off).await.unwrap();
    assert_eq!(ivy.password_set_at, Some(t(5)));
    assert_eq!(
        s.get_password_hash(ivy.id).await.unwrap().as_deref(),
        Some("$argon2id$second")
    );
    let jack = s.update_user(jack.id, &set, t(6), Off).await.unwrap();
    assert_eq!(jack.password_set_at, Some(t(6)));

    // Some(None) removes the password and its date.
    let remove = UserUpdate {
        password_hash: Some(None),
        ..Default::default()
    };
    let ivy = s.update_user(ivy.id, &remove, t(7), Off).await.unwrap();
    assert_eq!(ivy.password_set_at, None);
    assert_eq!(s.get_password_hash(ivy.id).await.unwrap(), None);
    let (found, hash) = s.find_user_by_identifier("ivy").await.unwrap().unwrap();
    assert_eq!((found, hash), (ivy.clone(), None));

    // Phone: set, kept, cleared.
    let phone = |p: Option<Option<&str>>| UserUpdate {
        phone: p.map(|p| p.map(str::to_owned)),
        ..Default::default()
    };
    let ivy = s
        .update_user(ivy.id, &phone(Some(Some("+33612345678"))), t(8), Off)
        .await
        .unwrap();
    assert_eq!(ivy.phone.as_deref(), Some("+33612345678"));
    let ivy = s
        .update_user(ivy.id, &phone(None), t(9), Off)
        .await
        .unwrap();
    assert_eq!(ivy.phone.as_deref(), Some("+33612345678"));
    assert_eq!(s.get_user(ivy.id).await.unwrap(), ivy);
    let ivy = s
        .update_user(ivy.id, &phone(Some(None)), t(10), Off)
        .await
        .unwrap();
    assert_eq!(ivy.phone, None);
    assert_eq!(ivy.password_set_at, None, "untouched by other changes");
}

/// A NUL in a looked-up identifier is bad input, never an internal error.
/// SQLite stores and compares it (no match); PostgreSQL cannot hold it
/// (SQLSTATE 22021) and the store answers `InvalidField`.
pub async fn nul_in_a_lookup_is_bad_input(store: Arc<dyn Store>) {
    store
        .insert_user(&new_user("nul", Some("nul@x.org")))
        .await
        .unwrap();
    for ident in ["nul\0", "n\0ul@x.org"] {
        match store.find_user_by_identifier(ident).await {
            Ok(None) | Err(aegis_core::Error::InvalidField { .. }) => {}
            other => panic!("{ident:?}: {other:?}"),
        }
    }
}
