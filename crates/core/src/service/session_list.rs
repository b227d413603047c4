//! Listings of live sessions: a user's own (any credential of theirs) and
//! everyone's (directory readers). Only sessions live at the clock's now are
//! listed; ending one removes it from every listing at once.

use super::{Actor, Aegis, Principal};
use crate::authz::{require, Capability};
use crate::error::Result;
use crate::query::Page;
use crate::session::{Session, SessionQuery};
use crate::user::User;

/// Largest page of a listing.
const MAX_SIZE: u32 = 1000;

impl Aegis {
    /// The principal's own live sessions, whatever `query.user` says.
    pub async fn list_own_sessions(
        &self,
        principal: &Principal,
        query: &SessionQuery,
    ) -> Result<Page<(Session, User)>> {
        require(principal.rights(), Capability::ReadSelf)?;
        query.conditions.iter().try_for_each(|c| c.check())?;
        let query = SessionQuery {
            user: Some(principal.user.id),
            ..bounded(query)
        };
        self.store.query_sessions(&query, self.clock.now()).await
    }

    /// Live sessions of every user, or of `query.user` (directory readers).
    pub async fn list_sessions(
        &self,
        actor: &Actor,
        query: &SessionQuery,
    ) -> Result<Page<(Session, User)>> {
        require(actor.rights(), Capability::ReadDirectory)?;
        query.conditions.iter().try_for_each(|c| c.check())?;
        self.store
            .query_sessions(&bounded(query), self.clock.now())
            .await
    }
}

/// The query with its page size within 1..=1000.
fn bounded(query: &SessionQuery) -> SessionQuery {
    SessionQuery {
        size: query.size.clamp(1, MAX_SIZE),
        ..query.clone()
    }
}
