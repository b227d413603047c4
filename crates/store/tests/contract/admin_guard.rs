//! The last-admin guard of `update_user` and `delete_user`.

use std::sync::Arc;

use aegis_core::store::AdminGuard::{KeepOneActive, Off};
use aegis_core::user::{Role, User, UserUpdate};
use aegis_core::{Error, Store};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::fixtures::{new_user, not_found, t};

fn demote() -> UserUpdate {
    UserUpdate {
        role: Some(Role::User),
        ..Default::default()
    }
}

fn deactivate() -> UserUpdate {
    UserUpdate {
        active: Some(false),
        ..Default::default()
    }
}

async fn admin(s: &dyn Store, name: &str, active: bool) -> User {
    let mut new = new_user(name, Some(&format!("{name}@example.com")));
    new.role = Role::Admin;
    new.active = active;
    s.insert_user(&new).await.unwrap()
}

fn is_last_admin<T: std::fmt::Debug>(r: aegis_core::Result<T>) -> bool {
    match r {
        Err(Error::LastAdmin) => true,
        other => panic!("expected LastAdmin, got {other:?}"),
    }
}

pub async fn last_admin_is_kept(store: Arc<dyn Store>) {
    let s = &*store;
    let root = admin(s, "root", true).await;
    // Neither an inactive admin nor a plain user counts.
    admin(s, "idle", false).await;
    s.insert_user(&new_user("plain", None)).await.unwrap();

    let with_rename = UserUpdate {
        username: Some(aegis_core::identity::Username::parse("renamed").unwrap()),
        role: Some(Role::View),
        ..Default::default()
    };
    for update in [demote(), deactivate(), with_rename] {
        assert!(is_last_admin(
            s.update_user(root.id, &update, t(5), KeepOneActive).await
        ));
        // Refused means nothing changed, identifiers included.
        assert_eq!(s.get_user(root.id).await.unwrap(), root);
        assert_eq!(s.count_active_admins().await.unwrap(), 1);
        assert!(s.find_user_by_identifier("root").await.unwrap().is_some());
        assert!(s
            .find_user_by_identifier("renamed")
            .await
            .unwrap()
            .is_none());
    }
    assert!(is_last_admin(s.delete_user(root.id, KeepOneActive).await));
    assert_eq!(s.get_user(root.id).await.unwrap(), root);

    // Changes that keep it an active admin pass the guard.
    let keep = UserUpdate {
        role: Some(Role::Admin),
        active: Some(true),
        verified: Some(true),
        ..Default::default()
    };
    let kept = s
        .update_user(root.id, &keep, t(6), KeepOneActive)
        .await
        .unwrap();
    assert!(kept.verified && kept.active && kept.role == Role::Admin);

    // Unknown users are still NotFound under the guard.
    let nobody = Uuid::now_v7();
    assert_eq!(
        not_found(s.update_user(nobody, &demote(), t(7), KeepOneActive).await),
        "user"
    );
    assert_eq!(
        not_found(s.delete_user(nobody, KeepOneActive).await),
        "user"
    );

    // Without the guard (the operator's tools) the last admin can go.
    s.update_user(root.id, &deactivate(), t(8), Off)
        .await
        .unwrap();
    assert_eq!(s.count_active_admins().await.unwrap(), 0);
}

pub async fn second_admin_allows_the_change(store: Arc<dyn Store>) {
    let s = &*store;
    let a = admin(s, "alpha", true).await;
    let b = admin(s, "beta", true).await;
    let c = admin(s, "gamma", true).await;
    let demoted = s
        .update_user(a.id, &demote(), t(1), KeepOneActive)
        .await
        .unwrap();
    assert_eq!(demoted.role, Role::User);
    let idle = s
        .update_user(b.id, &deactivate(), t(2), KeepOneActive)
        .await
        .unwrap();
    assert!(!idle.active);
    // Now c is the last active admin.
    assert!(is_last_admin(s.delete_user(c.id, KeepOneActive).await));
    let d = admin(s, "delta", true).await;
    s.delete_user(c.id, KeepOneActive).await.unwrap();
    assert_eq!(s.find_user(c.id).await.unwrap(), None);
    assert!(is_last_admin(
        s.update_user(d.id, &demote(), t(3), KeepOneActive).await
    ));
    assert_eq!(s.count_active_admins().await.unwrap(), 1);
}

pub async fn non_admins_are_not_guarded(store: Arc<dyn Store>) {
    let s = &*store;
    // No active admin at all: changes to anyone else still go through.
    let idle = admin(s, "sleepy", false).await;
    let user = s.insert_user(&new_user("joe", None)).await.unwrap();
    let view = UserUpdate {
        role: Some(Role::View),
        ..Default::default()
    };
    s.update_user(user.id, &view, t(1), KeepOneActive)
        .await
        .unwrap();
    s.update_user(user.id, &deactivate(), t(2), KeepOneActive)
        .await
        .unwrap();
    s.update_user(idle.id, &demote(), t(3), KeepOneActive)
        .await
        .unwrap();
    s.delete_user(user.id, KeepOneActive).await.unwrap();
    s.delete_user(idle.id, KeepOneActive).await.unwrap();
    assert_eq!(s.count_active_admins().await.unwrap(), 0);
}

/// Two guarded removals of the only two active admins, started together:
/// exactly one may win, every round.
pub async fn concurrent_removals_keep_one_admin(store: Arc<dyn Store>) {
    let mut survivor: Option<Uuid> = None;
    for round in 0..20 {
        let a = admin(&*store, &format!("ra{round}"), true).await;
        let b = admin(&*store, &format!("rb{round}"), true).await;
        // The previous round's survivor steps down so that a and b are the only two.
        if let Some(prev) = survivor {
            store
                .update_user(prev, &demote(), t(round), Off)
                .await
                .unwrap();
        }
        assert_eq!(store.count_active_admins().await.unwrap(), 2);

        let barrier = Arc::new(Barrier::new(2));
        let tasks = [(a.id, round % 3), (b.id, (round + 1) % 3)].map(|(id, how)| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                match how {
                    0 => store
                        .update_user(id, &demote(), t(100), KeepOneActive)
                        .await
                        .map(drop),
                    1 => store
                        .update_user(id, &deactivate(), t(100), KeepOneActive)
                        .await
                        .map(drop),
                    _ => store.delete_user(id, KeepOneActive).await,
                }
            })
        });
        let mut won = Vec::new();
        for (task, id) in tasks.into_iter().zip([a.id, b.id]) {
            match task.await.unwrap() {
                Ok(()) => won.push(id),
                Err(Error::LastAdmin) => survivor = Some(id),
                Err(e) => panic!("round {round}: unexpected {e:?}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one removal may win");
        assert_eq!(store.count_active_admins().await.unwrap(), 1);
        let kept = store.get_user(survivor.unwrap()).await.unwrap();
        assert!(kept.active && kept.role == Role::Admin);
    }
}
