//! Directory administration beyond create/delete: user info with groups and
//! authenticators, filtered listings, profile edits, disabling, unlocking,
//! password expiry and groups.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Actor, Aegis};
use crate::authz::{require, Capability};
use crate::error::{Error, Result};
use crate::group::{Group, GroupUpdate};
use crate::identity::fold;
use crate::mfa::{Factor, FactorKind};
use crate::query::{Page, UserQuery};
use crate::store::{AdminGuard, Invalidation};
use crate::throttle::account_key;
use crate::user::{User, UserUpdate};

/// Most keys in a profile.
pub const PROFILE_MAX_KEYS: usize = 64;
/// Longest profile value, in characters.
pub const PROFILE_MAX_VALUE: usize = 1024;

/// Kinds of authenticator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticatorKind {
    Password,
    Totp,
    Passkey,
}

/// One credential of a user, as listed (recovery codes are not listed).
#[derive(Debug, Clone, PartialEq)]
pub struct Authenticator {
    pub id: Uuid,
    pub kind: AuthenticatorKind,
    /// The user's label for it (a passkey's nickname), when there is one.
    pub name: Option<String>,
    /// A passkey's relying party id.
    pub rp_id: Option<String>,
    /// False while a TOTP enrollment awaits its first code.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user with what directory views show beside the record.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfo {
    pub user: User,
    pub groups: Vec<Uuid>,
    pub authenticators: Vec<Authenticator>,
    /// The throttle lock is in force.
    pub locked_out: bool,
}

/// The stable id of a user's password authenticator.
pub fn password_authenticator_id(user: Uuid) -> Uuid {
    Uuid::new_v5(&user, b"aegis/authenticator/password")
}

/// A user's password authenticator (when they have a password), then their
/// second factors, oldest first.
fn authenticators_of(user: &User, factors: &[Factor], rp_id: &str) -> Vec<Authenticator> {
    let password = user.password_set_at.map(|at| Authenticator {
        id: password_authenticator_id(user.id),
        kind: AuthenticatorKind::Password,
        name: None,
        rp_id: None,
        enabled: true,
        created_at: at,
        updated_at: at,
    });
    let factors = factors
        .iter()
        .filter(|f| f.user_id == user.id)
        .map(|f| Authenticator {
            id: f.id,
            kind: match f.kind {
                FactorKind::Totp => AuthenticatorKind::Totp,
                FactorKind::Passkey => AuthenticatorKind::Passkey,
            },
            name: Some(f.name.clone()).filter(|n| !n.is_empty()),
            rp_id: (f.kind == FactorKind::Passkey).then(|| rp_id.to_owned()),
            enabled: f.enabled,
            created_at: f.created_at,
            updated_at: f.updated_at,
        });
    password.into_iter().chain(factors).collect()
}

/// Checks a profile against the limits: ≤ 64 keys, keys `[A-Za-z0-9_.-]{1,64}`,
/// values ≤ 1024 characters.
pub fn check_profile(profile: &BTreeMap<String, String>) -> Result<()> {
    if profile.len() > PROFILE_MAX_KEYS {
        return Err(Error::invalid(
            "profile",
            format!("Profile must have at most {PROFILE_MAX_KEYS} keys"),
        ));
    }
    for (k, v) in profile {
        let key_ok = !k.is_empty()
            && k.len() <= 64
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !key_ok {
            return Err(Error::invalid(
                "profile",
                format!("Profile key {k:?} is not allowed"),
            ));
        }
        if v.chars().any(|c| c.is_control() && c != '\t' && c != '\n') {
            return Err(Error::invalid(
                "profile",
                format!("Profile value of {k:?} contains control characters"),
            ));
        }
        if v.chars().count() > PROFILE_MAX_VALUE {
            return Err(Error::invalid(
                "profile",
                format!("Profile value of {k:?} is longer than {PROFILE_MAX_VALUE} characters"),
            ));
        }
    }
    Ok(())
}

/// An administrative change of a user's account state.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    pub disabled: Option<bool>,
    pub unlock: bool,
    pub phone: Option<Option<String>>,
}

impl Aegis {
    /// Directory views of users: groups, authenticators and lock state added.
    pub async fn user_infos(&self, users: Vec<User>) -> Result<Vec<UserInfo>> {
        let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        let mut groups = self.store.group_ids_of(&ids).await?;
        let factors = self.store.factors_of(&ids).await?;
        let now = self.clock.now();
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            let locked_out = self
                .store
                .find_throttle(&account_key(&user.id))
                .await?
                .and_then(|s| s.locked_until)
                .is_some_and(|t| t > now);
            out.push(UserInfo {
                groups: groups.remove(&user.id).unwrap_or_default(),
                authenticators: authenticators_of(&user, &factors, &self.config.passkeys.rp_id),
                locked_out,
                user,
            });
        }
        Ok(out)
    }

    /// One user's directory view.
    pub async fn user_info(&self, user: User) -> Result<UserInfo> {
        let mut v = self.user_infos(vec![user]).await?;
        v.pop().ok_or_else(|| Error::internal("user info vanished"))
    }

    /// A user by id (directory readers).
    pub async fn get_user(&self, actor: &Actor, id: Uuid) -> Result<User> {
        require(actor.rights(), Capability::ReadDirectory)?;
        self.store.get_user(id).await
    }

    /// A filtered page of users (directory readers).
    pub async fn query_users(&self, actor: &Actor, query: &UserQuery) -> Result<Page<UserInfo>> {
        require(actor.rights(), Capability::ReadDirectory)?;
        query.conditions.iter().try_for_each(|c| c.check())?;
        let page = self.store.query_users(query).await?;
        Ok(Page {
            items: self.user_infos(page.items).await?,
            total: page.total,
            more: page.more,
        })
    }

    /// Merges profile edits (`None` deletes a key) into a user's profile (admins).
    pub async fn edit_profile(
        &self,
        actor: &Actor,
        id: Uuid,
        edits: BTreeMap<String, Option<String>>,
    ) -> Result<User> {
        require(actor.rights(), Capability::Administer)?;
        let user = self.store.get_user(id).await?;
        let mut profile = user.profile;
        for (k, v) in edits {
            match v {
                Some(v) => profile.insert(k, v),
                None => profile.remove(&k),
            };
        }
        check_profile(&profile)?;
        let update = UserUpdate {
            profile: Some(profile),
            ..Default::default()
        };
        let user = self
            .store
            .update_user(id, &update, self.clock.now(), AdminGuard::Off)
            .await?;
        self.changed(Invalidation::User(id)).await;
        Ok(user)
    }

    /// Disables or enables, unlocks, or changes the phone of a user (admins).
    pub async fn change_account(
        &self,
        actor: &Actor,
        id: Uuid,
        change: AccountChange,
    ) -> Result<User> {
        require(actor.rights(), Capability::Administer)?;
        if let Some(disabled) = change.disabled {
            self.update_user(
                actor,
                id,
                super::UserChange {
                    active: Some(!disabled),
                    ..Default::default()
                },
            )
            .await?;
        }
        if change.phone.is_some() {
            let update = UserUpdate {
                phone: change.phone,
                ..Default::default()
            };
            self.store
                .update_user(id, &update, self.clock.now(), AdminGuard::Off)
                .await?;
            self.changed(Invalidation::User(id)).await;
        }
        if change.unlock {
            self.store.clear_throttle(&account_key(&id)).await?;
        }
        self.store.get_user(id).await
    }

    /// Marks a user's password expired: the next password login must set a new
    /// one. Existing sessions are kept (admins).
    pub async fn expire_password(&self, actor: &Actor, id: Uuid) -> Result<()> {
        require(actor.rights(), Capability::Administer)?;
        let update = UserUpdate {
            password_expired: Some(true),
            ..Default::default()
        };
        self.store
            .update_user(id, &update, self.clock.now(), AdminGuard::Off)
            .await?;
        self.changed(Invalidation::User(id)).await;
        Ok(())
    }

    /// A user's authenticators (directory readers).
    pub async fn authenticators(&self, actor: &Actor, id: Uuid) -> Result<Vec<Authenticator>> {
        require(actor.rights(), Capability::ReadDirectory)?;
        let user = self.store.get_user(id).await?;
        Ok(authenticators_of(
            &user,
            &self.factors(id).await?,
            &self.config.passkeys.rp_id,
        ))
    }

    /// Deletes one authenticator of a user (admins); one of another user, or an
    /// unknown one, is `NotFound("authenticator")`.
    pub async fn delete_authenticator(&self, actor: &Actor, user_id: Uuid, id: Uuid) -> Result<()> {
        require(actor.rights(), Capability::Administer)?;
        let user = self.store.get_user(user_id).await?;
        if id != password_authenticator_id(user.id) || user.password_set_at.is_none() {
            if !self.store.delete_factor(user_id, id).await? {
                return Err(Error::NotFound("authenticator"));
            }
            self.changed(Invalidation::User(user_id)).await;
            return Ok(());
        }
        let update = UserUpdate {
            password_hash: Some(None),
            ..Default::default()
        };
        self.store
            .update_user(user_id, &update, self.clock.now(), AdminGuard::Off)
            .await?;
        self.changed(Invalidation::User(user_id)).await;
        Ok(())
    }

    /// Creates a group (admins); the name is unique case-insensitively.
    pub async fn create_group(
        &self,
        actor: &Actor,
        name: &str,
        kind: &str,
        description: Option<String>,
        attributes: BTreeMap<String, String>,
    ) -> Result<Group> {
        require(actor.rights(), Capability::Administer)?;
        let name = name.trim();
        check_group_fields(
            [Some(name), Some(kind), description.as_deref()],
            Some(&attributes),
        )?;
        check_group_name(name)?;
        let now = self.clock.now();
        let group = Group {
            id: Uuid::now_v7(),
            name: name.to_owned(),
            kind: kind.to_owned(),
            description,
            attributes,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_group(&group).await?;
        Ok(group)
    }

    /// A group by id (directory readers).
    pub async fn get_group(&self, actor: &Actor, id: Uuid) -> Result<Group> {
        require(actor.rights(), Capability::ReadDirectory)?;
        self.store
            .find_group(id)
            .await?
            .ok_or(Error::NotFound("group"))
    }

    /// Changes a group (admins).
    pub async fn update_group(
        &self,
        actor: &Actor,
        id: Uuid,
        update: GroupUpdate,
    ) -> Result<Group> {
        require(actor.rights(), Capability::Administer)?;
        check_group_fields(
            [
                update.name.as_deref(),
                update.kind.as_deref(),
                update.description.as_ref().and_then(|d| d.as_deref()),
            ],
            update.attributes.as_ref(),
        )?;
        if let Some(name) = &update.name {
            check_group_name(name.trim())?;
        }
        self.store.update_group(id, &update, self.clock.now()).await
    }

    /// Deletes a group and its memberships (admins).
    pub async fn delete_group(&self, actor: &Actor, id: Uuid) -> Result<()> {
        require(actor.rights(), Capability::Administer)?;
        if !self.store.delete_group(id).await? {
            return Err(Error::NotFound("group"));
        }
        Ok(())
    }

    /// Every group, by name (directory readers). Groups are few; listings
    /// filter and order them in memory.
    pub async fn all_groups(&self, actor: &Actor) -> Result<Vec<Group>> {
        require(actor.rights(), Capability::ReadDirectory)?;
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.list_groups(after, 1000).await?;
            after = page.items.last().map(|g| (fold(&g.name), g.id));
            let more = page.more;
            out.extend(page.items);
            if !more {
                return Ok(out);
            }
        }
    }

    /// Groups by name, keyset-paginated (directory readers).
    pub async fn list_groups(
        &self,
        actor: &Actor,
        after: Option<(String, Uuid)>,
        size: u32,
    ) -> Result<Page<Group>> {
        require(actor.rights(), Capability::ReadDirectory)?;
        self.store
            .list_groups(after.map(|(name, id)| (fold(&name), id)), size)
            .await
    }

    /// Adds a user to groups, all or none (admins); an unknown group is
    /// `InvalidField { field: "group_ids", reason: <its id> }`.
    pub async fn assign_groups(&self, actor: &Actor, user: Uuid, groups: &[Uuid]) -> Result<()> {
        require(actor.rights(), Capability::Administer)?;
        match self
            .store
            .assign_groups(user, groups, self.clock.now())
            .await?
        {
            None => Ok(()),
            Some(_) => Err(Error::NotFound("group")),
        }
    }

    /// Removes a user from a group (admins); an unknown group is `NotFound`.
    pub async fn remove_group(&self, actor: &Actor, user: Uuid, group: Uuid) -> Result<()> {
        require(actor.rights(), Capability::Administer)?;
        self.store.get_user(user).await?;
        if self.store.find_group(group).await?.is_none() {
            return Err(Error::NotFound("group"));
        }
        self.store.remove_group(user, group).await
    }

    /// The groups of a user, by name (directory readers).
    pub async fn groups_of(&self, actor: &Actor, user: Uuid) -> Result<Vec<Group>> {
        require(actor.rights(), Capability::ReadDirectory)?;
        self.store.get_user(user).await?;
        self.store.groups_of(user).await
    }

    /// Members of a group (directory readers).
    pub async fn group_members(
        &self,
        actor: &Actor,
        group: Uuid,
        after: Option<Uuid>,
        size: u32,
    ) -> Result<Page<UserInfo>> {
        require(actor.rights(), Capability::ReadDirectory)?;
        if self.store.find_group(group).await?.is_none() {
            return Err(Error::NotFound("group"));
        }
        let page = self.store.group_members(group, after, size).await?;
        Ok(Page {
            items: self.user_infos(page.items).await?,
            total: page.total,
            more: page.more,
        })
    }
}

/// No group text may hold a NUL (neither backend stores one faithfully).
fn check_group_fields<'a>(
    texts: impl IntoIterator<Item = Option<&'a str>>,
    attributes: Option<&BTreeMap<String, String>>,
) -> Result<()> {
    let nul = |t: &str| t.contains('\0');
    if texts.into_iter().flatten().any(nul)
        || attributes.is_some_and(|a| a.iter().any(|(k, v)| nul(k) || nul(v)))
    {
        return Err(Error::invalid(
            "name",
            "Group fields must not contain NUL characters",
        ));
    }
    Ok(())
}

/// A group name (trimmed): 1 to 256 characters.
fn check_group_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > 256 {
        return Err(Error::invalid(
            "name",
            "Group name must be 1 to 256 characters",
        ));
    }
    Ok(())
}
