//! Groups: names unique case-insensitively, partial updates, keyset listings,
//! atomic and idempotent assignment, and memberships following deletions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aegis_core::group::{Group, GroupUpdate};
use aegis_core::identity::fold;
use aegis_core::store::AdminGuard::Off;
use aegis_core::user::User;
use aegis_core::Store;
use uuid::Uuid;

use crate::fixtures::{conflict, new_user, not_found, t};

/// A group named `name`, created at `t(created)`.
pub fn group(name: &str, created: i64) -> Group {
    Group {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        kind: "team".to_owned(),
        description: Some(format!("the {name}")),
        attributes: BTreeMap::from([("source".to_owned(), "tests".to_owned())]),
        created_at: t(created),
        updated_at: t(created),
    }
}

async fn user(s: &dyn Store, name: &str) -> User {
    let mut new = new_user(name, None);
    new.id = Uuid::new_v4();
    s.insert_user(&new).await.unwrap()
}

fn ids(groups: &[Group]) -> Vec<Uuid> {
    groups.iter().map(|g| g.id).collect()
}

pub async fn groups_round_trip_and_conflicts(store: Arc<dyn Store>) {
    let s = &*store;
    let admins = group("Admins", 1);
    s.insert_group(&admins).await.unwrap();
    assert_eq!(s.find_group(admins.id).await.unwrap(), Some(admins.clone()));
    assert_eq!(s.find_group(Uuid::now_v7()).await.unwrap(), None);
    let mut bare = group("Straße", 2);
    bare.description = None;
    bare.attributes = BTreeMap::new();
    s.insert_group(&bare).await.unwrap();
    assert_eq!(s.find_group(bare.id).await.unwrap(), Some(bare.clone()));

    // Names are unique once case-folded.
    for taken in ["admins", "ADMINS", " Admins", "STRASSE", "strasse"] {
        assert_eq!(
            conflict(s.insert_group(&group(taken, 3)).await),
            "name",
            "{taken}"
        );
    }

    // Partial updates.
    let renamed = s
        .update_group(
            admins.id,
            &GroupUpdate {
                name: Some("Administrators".into()),
                ..Default::default()
            },
            t(10),
        )
        .await
        .unwrap();
    assert_eq!(
        renamed,
        Group {
            name: "Administrators".into(),
            updated_at: t(10),
            ..admins.clone()
        }
    );
    // The old name is free, the new one taken.
    s.insert_group(&group("admins", 11)).await.unwrap();
    assert_eq!(
        conflict(s.insert_group(&group("administrators", 11)).await),
        "name"
    );
    let all = GroupUpdate {
        name: Some("ADMINISTRATORS".into()),
        kind: Some("system".into()),
        description: Some(None),
        attributes: Some(BTreeMap::from([("a".to_owned(), "b".to_owned())])),
    };
    let changed = s.update_group(admins.id, &all, t(12)).await.unwrap();
    assert_eq!(
        changed.name, "ADMINISTRATORS",
        "renaming to its own key is fine"
    );
    assert_eq!(changed.kind, "system");
    assert_eq!(changed.description, None);
    assert_eq!(changed.attributes, all.attributes.clone().unwrap());
    assert_eq!((changed.created_at, changed.updated_at), (t(1), t(12)));
    assert_eq!(
        s.find_group(admins.id).await.unwrap(),
        Some(changed.clone())
    );
    let described = GroupUpdate {
        description: Some(Some("again".into())),
        ..Default::default()
    };
    let again = s.update_group(admins.id, &described, t(13)).await.unwrap();
    assert_eq!(again.description.as_deref(), Some("again"));
    assert_eq!(again.name, changed.name);

    // A rename onto another group's name changes nothing.
    let clash = GroupUpdate {
        name: Some("strasse".into()),
        kind: Some("other".into()),
        ..Default::default()
    };
    assert_eq!(
        conflict(s.update_group(admins.id, &clash, t(14)).await),
        "name"
    );
    assert_eq!(s.find_group(admins.id).await.unwrap(), Some(again.clone()));

    let nobody = Uuid::now_v7();
    assert_eq!(
        not_found(s.update_group(nobody, &described, t(15)).await),
        "group"
    );
    assert!(s.delete_group(bare.id).await.unwrap());
    assert!(!s.delete_group(bare.id).await.unwrap());
    assert_eq!(s.find_group(bare.id).await.unwrap(), None);
    s.insert_group(&group("STRASSE", 16)).await.unwrap();
}

pub async fn groups_list_by_name(store: Arc<dyn Store>) {
    let s = &*store;
    let empty = s.list_groups(None, 10).await.unwrap();
    assert!(empty.items.is_empty() && empty.total == 0 && !empty.more);
    let names = [
        "beta", "Alpha", "gamma", "Delta", "epsilon", "_under", "Zeta", "ägir",
    ];
    let mut groups: Vec<Group> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let g = group(name, i as i64);
        s.insert_group(&g).await.unwrap();
        groups.push(g);
    }
    // Byte order of the folded names: '_' < 'a' < 'z' < 'ä'.
    groups.sort_by_key(|g| fold(&g.name));
    let order: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        order,
        ["_under", "Alpha", "beta", "Delta", "epsilon", "gamma", "Zeta", "ägir"]
    );
    for size in [1, 2, 3, 8, 100] {
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let page = s.list_groups(after.clone(), size).await.unwrap();
            assert_eq!(page.total, groups.len() as u64);
            assert!(page.items.len() <= size as usize);
            seen.extend(page.items.iter().cloned());
            if !page.more {
                break;
            }
            let last = page.items.last().unwrap();
            after = Some((fold(&last.name), last.id));
        }
        assert_eq!(seen, groups, "size {size}");
    }
}

pub async fn assignment_is_atomic_and_idempotent(store: Arc<dyn Store>) {
    let s = &*store;
    let ann = user(s, "ann").await;
    let ben = user(s, "ben").await;
    let (red, green, blue) = (group("red", 1), group("Green", 2), group("blue", 3));
    for g in [&red, &green, &blue] {
        s.insert_group(g).await.unwrap();
    }
    let ghost = Uuid::now_v7();

    // One unknown group: nothing is assigned, and it is named.
    assert_eq!(
        s.assign_groups(ann.id, &[red.id, ghost, green.id], t(5))
            .await
            .unwrap(),
        Some(ghost)
    );
    assert!(s.groups_of(ann.id).await.unwrap().is_empty());
    assert_eq!(
        not_found(s.assign_groups(Uuid::now_v7(), &[red.id], t(5)).await),
        "user"
    );
    assert_eq!(s.assign_groups(ann.id, &[], t(5)).await.unwrap(), None);

    assert_eq!(
        s.assign_groups(ann.id, &[red.id, green.id], t(5))
            .await
            .unwrap(),
        None
    );
    // Already assigned ids (and repeats) are no-ops.
    assert_eq!(
        s.assign_groups(ann.id, &[green.id, blue.id, blue.id], t(6))
            .await
            .unwrap(),
        None
    );
    s.assign_groups(ben.id, &[green.id], t(6)).await.unwrap();
    // By name: blue, Green, red.
    assert_eq!(
        ids(&s.groups_of(ann.id).await.unwrap()),
        [blue.id, green.id, red.id]
    );
    assert_eq!(s.groups_of(ann.id).await.unwrap()[1], green);
    assert_eq!(not_found(s.groups_of(Uuid::now_v7()).await), "user");

    // Removal: idempotent for known user and group.
    s.remove_group(ann.id, red.id).await.unwrap();
    s.remove_group(ann.id, red.id).await.unwrap();
    assert_eq!(
        ids(&s.groups_of(ann.id).await.unwrap()),
        [blue.id, green.id]
    );
    assert_eq!(not_found(s.remove_group(ann.id, ghost).await), "group");
    assert_eq!(
        not_found(s.remove_group(Uuid::now_v7(), red.id).await),
        "user"
    );

    let map = s
        .group_ids_of(&[ann.id, ben.id, Uuid::now_v7()])
        .await
        .unwrap();
    assert_eq!(
        map,
        HashMap::from([(ann.id, vec![blue.id, green.id]), (ben.id, vec![green.id])])
    );
    assert!(s.group_ids_of(&[]).await.unwrap().is_empty());
}

pub async fn members_page_by_user_id(store: Arc<dyn Store>) {
    let s = &*store;
    let club = group("club", 1);
    let other = group("other", 1);
    s.insert_group(&club).await.unwrap();
    s.insert_group(&other).await.unwrap();
    let mut members = Vec::new();
    for i in 0..9 {
        let u = user(s, &format!("member{i}")).await;
        s.assign_groups(u.id, &[club.id], t(i)).await.unwrap();
        members.push(u);
    }
    let outsider = user(s, "outsider").await;
    s.assign_groups(outsider.id, &[other.id], t(1))
        .await
        .unwrap();
    members.sort_by_key(|u| u.id);

    for size in [1, 2, 4, 9, 50] {
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let page = s.group_members(club.id, after, size).await.unwrap();
            assert_eq!(page.total, 9);
            seen.extend(page.items.iter().cloned());
            if !page.more {
                break;
            }
            after = page.items.last().map(|u| u.id);
        }
        assert_eq!(seen, members, "size {size}");
    }
    let empty = group("empty", 1);
    s.insert_group(&empty).await.unwrap();
    let page = s.group_members(empty.id, None, 10).await.unwrap();
    assert!(page.items.is_empty() && page.total == 0 && !page.more);
    assert_eq!(
        not_found(s.group_members(Uuid::now_v7(), None, 10).await),
        "group"
    );

    // Deleting a user drops its memberships.
    s.delete_user(members[0].id, Off).await.unwrap();
    let page = s.group_members(club.id, None, 50).await.unwrap();
    assert_eq!(page.total, 8);
    assert_eq!(page.items, members[1..]);
    assert!(s.group_ids_of(&[members[0].id]).await.unwrap().is_empty());

    // Deleting a group drops its memberships, and only its.
    s.assign_groups(members[1].id, &[other.id], t(9))
        .await
        .unwrap();
    assert!(s.delete_group(club.id).await.unwrap());
    assert_eq!(not_found(s.group_members(club.id, None, 10).await), "group");
    assert_eq!(ids(&s.groups_of(members[1].id).await.unwrap()), [other.id]);
    assert!(s.groups_of(members[2].id).await.unwrap().is_empty());
    assert_eq!(s.group_members(other.id, None, 10).await.unwrap().total, 2);
    // A group of the same name can come back.
    s.insert_group(&group("CLUB", 10)).await.unwrap();
}
