//! Ending sessions by id or by user (the account page, administrators).

use uuid::Uuid;

use super::Aegis;
use crate::error::{Error, Result};

impl Aegis {
    /// Ends one session by id. With `owner`, only that user's sessions can be
    /// named (another's is `NotFound`, as if it did not exist); without, the
    /// caller must be an admin.
    pub async fn invalidate_session(
        &self,
        actor: &super::Actor,
        session_id: Uuid,
        owner: Option<Uuid>,
    ) -> Result<()> {
        if owner.is_none() {
            crate::authz::require(actor.rights(), crate::authz::Capability::Administer)?;
        }
        let now = self.clock.now();
        self.store
            .find_session(session_id)
            .await?
            .filter(|s| s.is_live(now) && owner.is_none_or(|o| o == s.user_id))
            .ok_or(Error::NotFound("session"))?;
        self.revoke_session(session_id).await
    }

    /// The owner of a live session (admins): what a logout naming a session
    /// ends. `None` when there is no such live session.
    pub async fn session_owner(&self, actor: &super::Actor, sid: Uuid) -> Result<Option<Uuid>> {
        crate::authz::require(actor.rights(), crate::authz::Capability::Administer)?;
        let now = self.clock.now();
        Ok(self
            .store
            .find_session(sid)
            .await?
            .filter(|s| s.is_live(now))
            .map(|s| s.user_id))
    }

    /// Ends every session of a user (admins).
    pub async fn logout_user(&self, actor: &super::Actor, user_id: Uuid) -> Result<()> {
        crate::authz::require(actor.rights(), crate::authz::Capability::Administer)?;
        self.store.get_user(user_id).await?;
        self.revoke_user_sessions(user_id, None).await
    }
}
