//! Minting API tokens: role never above the minter's nor the owner's.

use chrono::Duration;
use uuid::Uuid;

use super::{Actor, Aegis, Credential, Principal};
use crate::api_token::{ApiToken, ApiTokenListing, CreateApiTokenRequest, MintedApiToken, PREFIX};
use crate::authz::{require, Capability};
use crate::error::{Error, Result};
use crate::secret::{hash_token, random_token};
use crate::store::Invalidation;

/// True for a provider name of the form `[a-z0-9][a-z0-9_-]{0,31}`.
pub fn valid_provider(p: &str) -> bool {
    let b = p.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

impl Aegis {
    /// Mints an API token owned by `owner`. Callers other than the operator mint
    /// for themselves (admins for anyone); the role is capped by the caller's
    /// effective role and by the owner's role.
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        owner: Uuid,
        req: CreateApiTokenRequest,
    ) -> Result<MintedApiToken> {
        require(actor.rights(), Capability::ManageSelf)?;
        if let Actor::Principal(p) = actor {
            if p.user.id != owner {
                require(actor.rights(), Capability::Administer)?;
            }
        }
        if !actor.role().at_least(req.role) {
            return Err(Error::Forbidden);
        }
        if !valid_provider(&req.provider) {
            return Err(Error::invalid(
                "provider",
                "Provider must match [a-z0-9][a-z0-9_-]{0,31}",
            ));
        }
        if !self.config.providers.iter().any(|p| p == &req.provider) {
            return Err(Error::NotFound("provider"));
        }
        let max = self.config.api_token_max_expiry_s as i64;
        if req.expiry_s < 1 || req.expiry_s > max {
            return Err(Error::invalid(
                "expiry",
                format!("Expiry must be between 1 and {max} seconds"),
            ));
        }
        if req.name.as_ref().is_some_and(|n| n.chars().count() > 64) {
            return Err(Error::invalid("name", "Name must be at most 64 characters"));
        }
        let owner_user = self.store.get_user(owner).await?;
        if !owner_user.role.at_least(req.role) {
            return Err(Error::Forbidden);
        }
        let now = self.clock.now();
        let mut expires_at = now + Duration::seconds(req.expiry_s);
        // A token minted with a token lives no longer than the one presented,
        // so a leaked short-lived token cannot turn into a long-lived one.
        if let Actor::Principal(p) = actor {
            if matches!(p.credential, Credential::ApiToken { .. }) {
                expires_at = expires_at.min(p.expires_at());
            }
        }
        let secret = format!("{PREFIX}{}", random_token());
        let token = ApiToken {
            id: Uuid::now_v7(),
            hash: hash_token(&secret),
            owner_id: owner,
            created_by: match actor {
                Actor::System => None,
                Actor::Principal(p) => Some(p.user.id),
            },
            provider: req.provider,
            role: req.role,
            name: req.name,
            created_at: now,
            expires_at,
            last_used_at: None,
        };
        self.store.insert_api_token(&token).await?;
        Ok(MintedApiToken { token, secret })
    }
}

impl Aegis {
    /// API tokens of a provider: every one for admins and viewers, one's own for
    /// others; newest first.
    pub async fn list_api_tokens(
        &self,
        caller: &Principal,
        provider: &str,
    ) -> Result<Vec<ApiTokenListing>> {
        if !valid_provider(provider) {
            return Err(Error::invalid(
                "provider",
                "Provider must match [a-z0-9][a-z0-9_-]{0,31}",
            ));
        }
        let owner = if caller.rights().allows(Capability::ReadDirectory) {
            None
        } else {
            Some(caller.user.id)
        };
        self.store.list_api_tokens(provider, owner).await
    }

    /// Deletes an API token: admins any, others (not viewers) their own; a token
    /// that is not the caller's is `NotFound`, as if it did not exist.
    pub async fn delete_api_token(&self, caller: &Principal, id: Uuid) -> Result<()> {
        require(caller.rights(), Capability::ManageSelf)?;
        let token = self
            .store
            .find_api_token(id)
            .await?
            .filter(|t| {
                t.owner_id == caller.user.id || caller.rights().allows(Capability::Administer)
            })
            .ok_or(Error::NotFound("token"))?;
        if !self.store.delete_api_token(id).await? {
            return Err(Error::NotFound("token"));
        }
        self.changed(Invalidation::ApiToken(token.hash)).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::valid_provider;

    #[test]
    fn providers() {
        assert!(valid_provider("local"));
        assert!(valid_provider("a1_b-c"));
        assert!(!valid_provider(""));
        assert!(!valid_provider("Local"));
        assert!(!valid_provider("-x"));
        assert!(!valid_provider(&"a".repeat(33)));
    }
}
