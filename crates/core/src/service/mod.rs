//! The identity services: one [`Aegis`] value holds the store, the keys, the
//! hasher and the caches, and every dialect calls its methods.

mod auth;
mod bearer;
mod directory;
mod imports;
mod login_codes;
mod mfa;
pub mod oidc;
mod passkeys;
mod profile;
mod session_admin;
mod session_list;
mod throttle;
mod token_info;
mod tokens;
mod users;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::cache::AuthCache;
use crate::clock::Clock;
use crate::config::CoreConfig;
use crate::error::Result;
use crate::keys::{Kek, KeyRing};
use crate::password::Hasher;
use crate::store::{Invalidation, Store};
use crate::user::{Role, User};

pub use auth::{Login, LoginRequest, LoginStep, TokenPair};
pub use directory::{
    check_profile, password_authenticator_id, AccountChange, Authenticator, AuthenticatorKind,
    UserInfo,
};
pub use imports::StartImportError;
pub use mfa::TotpEnrollment;
pub(crate) use passkeys::relying_party as passkeys_relying_party;
pub use passkeys::PasskeyCeremony;
pub use profile::ProfileChange;
pub use token_info::{TokenInfo, TokenKind};
pub use users::{CreateUserRequest, UserChange};

/// How long cached user and session state may live without a change
/// notification (a safety net; changes invalidate at once).
const STATE_TTL: Duration = Duration::from_secs(60);

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user, as currently stored.
    pub user: Arc<User>,
    /// What the caller presented.
    pub credential: Credential,
}

/// The credential a [`Principal`] authenticated with.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    /// A session access token.
    Session {
        sid: Uuid,
        expires_at: DateTime<Utc>,
    },
    /// An API token with its own role.
    ApiToken {
        id: Uuid,
        hash: [u8; 32],
        role: Role,
        expires_at: DateTime<Utc>,
    },
}

impl Principal {
    /// The role the caller is shown with: the user's current role, lowered to
    /// the token's own role for API tokens. What it may do is [`Principal::rights`].
    pub fn role(&self) -> Role {
        match &self.credential {
            Credential::Session { .. } => self.user.role,
            Credential::ApiToken { role, .. } => role.min(self.user.role),
        }
    }

    /// What the caller may do: its user's role, and for an API token only what
    /// both the token's role and its owner's current role grant.
    pub fn rights(&self) -> crate::authz::Rights {
        match &self.credential {
            Credential::Session { .. } => crate::authz::Rights::of(self.user.role),
            Credential::ApiToken { role, .. } => crate::authz::Rights::both(*role, self.user.role),
        }
    }

    /// When the presented credential expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        match &self.credential {
            Credential::Session { expires_at, .. } | Credential::ApiToken { expires_at, .. } => {
                *expires_at
            }
        }
    }
}

/// Who asks for a change: an operator at the console, or an authenticated caller.
#[derive(Debug, Clone)]
pub enum Actor {
    /// The operator (CLI): every capability.
    System,
    /// A caller of the API.
    Principal(Principal),
}

impl Actor {
    /// The role the actor is shown with (see [`Principal::role`]).
    pub fn role(&self) -> Role {
        match self {
            Actor::System => Role::Admin,
            Actor::Principal(p) => p.role(),
        }
    }

    /// What the actor may do: everything at the console.
    pub fn rights(&self) -> crate::authz::Rights {
        match self {
            Actor::System => crate::authz::Rights::of(Role::Admin),
            Actor::Principal(p) => p.rights(),
        }
    }
}

/// The identity core's services.
pub struct Aegis {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: CoreConfig,
    hasher: Hasher,
    keys: KeyRing,
    cache: Arc<AuthCache>,
    runner: Arc<crate::import::Runner>,
    /// Seals second-factor secrets at rest.
    kek: Kek,
    /// The passkey relying party.
    webauthn: webauthn_rs::Webauthn,
}

impl std::fmt::Debug for Aegis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aegis").field("keys", &self.keys).finish()
    }
}

impl Aegis {
    /// Builds the services: loads (or creates) the signing keys and starts
    /// following the store's cross-instance invalidations.
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: CoreConfig,
        kek: &Kek,
    ) -> Result<Arc<Self>> {
        if config.oidc.enabled && config.oidc.issuer.is_empty() {
            return Err(crate::Error::invalid(
                "public_url",
                "must be set when oidc.enabled is on: it is the OpenID issuer",
            ));
        }
        let hasher = Hasher::new(&config.argon2)?;
        let webauthn = passkeys::relying_party(&config.passkeys)?;
        // ID tokens may be signed in any algorithm a client chooses: the
        // provider holds a key of each (aegis's own tokens stay EdDSA).
        let extra: &[crate::keys::SigningAlg] = if config.oidc.enabled {
            &crate::keys::SigningAlg::ALL
        } else {
            &[]
        };
        let keys = KeyRing::load_or_create(store.as_ref(), kek, clock.as_ref(), extra).await?;
        let cache = Arc::new(AuthCache::new(STATE_TTL));
        if let Some(mut rx) = store.subscribe() {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match rx.recv().await {
                        Ok(change) => cache.apply(&change),
                        Err(RecvError::Lagged(_)) => cache.apply(&Invalidation::All),
                        Err(RecvError::Closed) => break,
                    }
                }
            });
        }
        let runner = Arc::new(crate::import::Runner::new(
            Arc::clone(&store),
            Arc::clone(&clock),
            config.import.clone(),
        ));
        Ok(Arc::new(Self {
            runner,
            store,
            clock,
            config,
            hasher,
            keys,
            cache,
            kek: kek.clone(),
            webauthn,
        }))
    }

    /// The store (for readiness checks and tools).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The rules in force.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// The current time of the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The public signing keys as a JWK set.
    pub fn jwks(&self) -> Value {
        self.keys.jwks()
    }

    /// Housekeeping, run periodically: removes tokens, sessions and throttle
    /// counters that ended more than 30 days ago, and expired import sources.
    pub async fn purge_expired(&self) -> Result<u64> {
        let now = self.clock.now();
        let purged = self
            .store
            .purge_expired(now - chrono::Duration::days(30))
            .await?;
        Ok(purged + self.store.purge_import_sources(now).await?)
    }

    /// True when the store answers.
    pub async fn ready(&self) -> Result<()> {
        self.store.ping().await
    }

    /// Drops a cached entry here and in every other instance.
    async fn changed(&self, change: Invalidation) {
        self.cache.apply(&change);
        if let Err(e) = self.store.publish(&change).await {
            tracing::error!(error = %e, "could not publish a cache invalidation");
        }
    }

    /// The current state of a user, from the cache.
    async fn user_state(&self, id: Uuid) -> Result<Option<Arc<User>>> {
        self.cache
            .users
            .get_or_load(&id, async {
                Ok(self.store.find_user(id).await?.map(Arc::new))
            })
            .await
    }
}
